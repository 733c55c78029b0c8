// Simulation: a replay of many cases takes a few seconds — say so while the page loads.
(function () {
  function busy(el) {
    var note = el.querySelector('.sim-progress') || document.querySelector('.sim-progress');
    if (note) note.hidden = false;
    var button = el.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    if (el.classList) el.classList.add('sim-busy');
  }
  document.querySelectorAll('form[data-sim-progress]').forEach(function (form) {
    form.addEventListener('submit', function () { busy(form); });
  });
  document.querySelectorAll('a[data-sim-progress]').forEach(function (link) {
    link.addEventListener('click', function () {
      link.setAttribute('aria-busy', 'true');
      link.textContent = link.getAttribute('data-sim-progress');
    });
  });
})();
