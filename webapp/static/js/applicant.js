/* Applicant portal: checks a chosen file before upload, asks before a refusal-bound submit or a withdrawal,
   and makes the rating reason required below three stars. Everything also works (server-checked) without JS. */
(function () {
  "use strict";
  var SIGS = [[0x25, 0x50, 0x44, 0x46, 0x2d], [0xff, 0xd8, 0xff], [0x89, 0x50, 0x4e, 0x47]];

  function errorBox(input) {
    var box = input.parentNode.querySelector(".js-file-error");
    return box;
  }
  function showError(input, text) {
    var box = errorBox(input);
    if (box) { box.textContent = text; box.hidden = !text; }
  }
  function maxBytes(input) {
    var form = input.form;
    return form && form.dataset.maxBytes ? parseInt(form.dataset.maxBytes, 10) : 10 * 1024 * 1024;
  }

  function checkFile(input) {
    showError(input, "");
    var file = input.files && input.files[0];
    if (!file) { return; }
    var name = input.dataset.name || "文件";
    var limit = maxBytes(input);
    if (file.size > limit) {
      showError(input, "“" + name + "”超过 " + Math.round(limit / 1048576) + " MB，请压缩后重新选择");
      input.value = "";
      return;
    }
    if (file.size === 0) { showError(input, "“" + name + "”是空文件"); input.value = ""; return; }
    if (!window.FileReader || !file.slice) { return; }
    var reader = new FileReader();
    reader.onload = function () {
      var head = new Uint8Array(reader.result);
      var ok = SIGS.some(function (sig) {
        for (var i = 0; i < sig.length; i++) { if (head[i] !== sig[i]) { return false; } }
        return true;
      });
      if (!ok) {
        showError(input, "“" + name + "”不是 PDF、JPG 或 PNG 文件，请转换后重新选择");
        input.value = "";
      }
    };
    reader.readAsArrayBuffer(file.slice(0, 8));
  }

  document.querySelectorAll("input.js-file").forEach(function (input) {
    input.addEventListener("change", function () { checkFile(input); });
  });

  // 提交申请 with a key item missing: the server answers with a confirmation page (it knows the kept files).

  document.querySelectorAll("form.js-confirm").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm || "确定？")) { ev.preventDefault(); }
    });
  });

  // 签署: the button is enabled once the box is ticked.
  var check = document.getElementById("commit-check");
  var sign = document.getElementById("commit-submit");
  if (check && sign) {
    var sync = function () { sign.disabled = !check.checked; };
    check.addEventListener("change", sync);
    sync();
  }

  // 好差评: a reason is required below three stars.
  var rate = document.getElementById("rate-form");
  if (rate) {
    var reason = rate.querySelector("textarea[name=reason]");
    var hint = rate.querySelector(".js-reason-hint");
    rate.querySelectorAll("input[name=stars]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        var low = parseInt(radio.value, 10) < 3;
        reason.required = low;
        if (hint) { hint.textContent = low ? "（必填：请说明不满意的原因）" : "（三星以下须填写）"; }
      });
    });
  }
})();
