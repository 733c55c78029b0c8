// Documents whose PDF is still being rendered and signed (生成中) are marked data-doc-pending="<id>". While any is
// on the page, re-read the page every few seconds and swap in the cells that became ready — no full reload, so a
// half-filled form on the page is kept. Stops after about two minutes (the administrators see failures).
(function () {
  var left = 50;
  function pending() { return document.querySelectorAll('[data-doc-pending]'); }
  function poll() {
    if (!pending().length || left-- <= 0) return;
    fetch(window.location.href, { credentials: 'same-origin', headers: { 'X-Requested-With': 'doc-pending' } })
      .then(function (r) { return r.ok ? r.text() : ''; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, 'text/html');
        pending().forEach(function (cell) {
          var id = cell.getAttribute('data-doc-pending');
          var ready = fresh.querySelector('[data-doc-ready="' + id + '"]');
          if (ready) cell.replaceWith(document.importNode(ready, true));
        });
      })
      .catch(function () {})
      .then(function () { if (pending().length) setTimeout(poll, 2500); });
  }
  if (pending().length) setTimeout(poll, 1500);
})();
