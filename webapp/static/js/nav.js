/* The header's menu on a phone: the links fold behind the 菜单 button (aria-expanded says whether they show).
   Loaded from a file (CSP: script-src 'self'); without it the header simply shows every link. */
(function () {
  'use strict';
  var button = document.querySelector('.topbar .menu-toggle');
  if (!button) { return; }
  var bar = button.closest('.topbar');
  bar.classList.add('js-menu');
  function set(open) {
    bar.classList.toggle('open', open);
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
  }
  button.addEventListener('click', function () { set(button.getAttribute('aria-expanded') !== 'true'); });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && bar.classList.contains('open')) { set(false); button.focus(); }
  });
})();
