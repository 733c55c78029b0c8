// What the two diagram editors share (admin-modeler.js for BPMN, admin-dmn.js for decision tables): saving the
// edited XML as a draft. The server answers 200 with the draft, 422 with every problem, or another error.
window.adminEditor = {
  // o: xml() → Promise of the XML; url; csrf; button (disabled while saving); setStatus(text, kind);
  // saved(body) after a 200; refused(errors) after a 422 listing the problems.
  saveDraft: function (o) {
    o.button.disabled = true;
    o.setStatus('正在校验…');
    o.xml().then(function (xml) {
      return fetch(o.url, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': o.csrf, 'Accept': 'application/json' },
        body: JSON.stringify({ xml: xml })
      });
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) { return { status: resp.status, body: body }; });
    }).then(function (r) {
      if (r.status === 200) {
        o.saved(r.body);
        o.setStatus(r.body.message || '已保存', 'ok');
      } else if (r.status === 422 && r.body.errors) {
        o.refused(r.body.errors);
        o.setStatus(r.body.message || '校验未通过，未保存', 'bad');
      } else {
        o.setStatus((r.body && (r.body.message || (r.body.error && r.body.error.message))) || ('保存失败（' + r.status + '）'), 'bad');
      }
    }).catch(function (e) {
      o.setStatus('保存失败：' + e.message, 'bad');
    }).then(function () {
      o.button.disabled = false;
    });
  }
};
