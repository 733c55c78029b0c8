/* Case page: show the process in the bpmn-js navigated viewer and mark done / active / overdue steps.
   Data comes from <script type="application/json" id="diagram-data"> (CSP allows no inline scripts). */
(function () {
  'use strict';
  var holder = document.getElementById('diagram');
  var dataEl = document.getElementById('diagram-data');
  var errorEl = document.getElementById('diagram-error');
  if (!holder || !dataEl) { return; }

  function fail(err) {
    if (errorEl) { errorEl.hidden = false; }
    if (window.console && err) { console.error(err); }
  }

  var data;
  try { data = JSON.parse(dataEl.textContent || '{}'); } catch (e) { fail(e); return; }
  if (!data.xml || typeof window.BpmnJS !== 'function') { fail(new Error('bpmn-js not loaded or no diagram')); return; }

  var viewer = new window.BpmnJS({ container: holder });
  function mark() {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    canvas.zoom('fit-viewport', 'auto');
    Object.keys(data.states || {}).forEach(function (id) {
      var state = data.states[id];
      if (registry.get(id) && ['done', 'active', 'overdue'].indexOf(state) >= 0) {
        canvas.addMarker(id, state);
      }
    });
  }
  var result = viewer.importXML(data.xml, function (err) { if (err) { fail(err); } else { mark(); } });
  if (result && typeof result.then === 'function') {  // bpmn-js >= 7 returns a promise and ignores the callback
    result.then(function (r) { if (r && r.warnings && r.warnings.length && window.console) { console.warn(r.warnings); } mark(); })
      .catch(fail);
  }
})();
