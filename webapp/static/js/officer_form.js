/* Task page: a field that is required only for one decision (e.g. the opinion when refusing), the return form's
   material list (only when returning to the applicant), confirmations, and focus on the first error. */
(function () {
  'use strict';

  function valueOf(form, name) {
    var checked = form.querySelector('input[type=radio][name="' + name + '"]:checked');
    if (checked) { return checked.value; }
    var el = form.querySelector('select[name="' + name + '"]');
    return el ? el.value : '';
  }

  document.querySelectorAll('form[data-schema-form]').forEach(function (form) {
    var conditional = form.querySelectorAll('[data-required-when-field]');
    function update() {
      conditional.forEach(function (box) {
        var on = valueOf(form, box.getAttribute('data-required-when-field')) === box.getAttribute('data-required-when-value');
        var input = box.querySelector('textarea, input, select');
        var mark = box.querySelector('.req.conditional');
        if (input) { input.required = on; input.setAttribute('aria-required', on ? 'true' : 'false'); }
        if (mark) { mark.hidden = !on; }
        box.classList.toggle('is-required', on);
      });
    }
    form.addEventListener('change', update);
    update();
    form.addEventListener('submit', function (ev) {
      update();
      if (!form.checkValidity()) {
        ev.preventDefault();
        form.reportValidity();
      }
    });
  });

  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      if (!window.confirm(form.getAttribute('data-confirm'))) { ev.preventDefault(); }
    });
  });

  var target = document.getElementById('return-target');
  if (target) {
    var items = document.querySelector('[data-show-when-target]');
    var sync = function () { if (items) { items.hidden = target.value !== items.getAttribute('data-show-when-target'); } };
    target.addEventListener('change', sync);
    sync();
  }

  var firstError = document.querySelector('.has-error input, .has-error textarea, .has-error select');
  if (firstError) { firstError.focus(); }
})();
