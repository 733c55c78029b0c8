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
  // bpmn-js >= 7: importXML(xml) returns a promise (a second argument would name the diagram to open)
  viewer.importXML(data.xml).then(function (r) {
    if (r && r.warnings && r.warnings.length && window.console) { console.warn(r.warnings); }
    mark();
  }).catch(fail);
})();
