/* Case page: show the process in the bpmn-js navigated viewer (drag to pan, Ctrl+wheel to zoom), mark done /
   active / overdue steps, and drive the zoom buttons (放大 / 缩小 / 适应窗口) beside it.
   Data comes from <script type="application/json" id="diagram-data"> (CSP allows no inline scripts). */
(function () {
  'use strict';
  var holder = document.getElementById('diagram');
  var dataEl = document.getElementById('diagram-data');
  var errorEl = document.getElementById('diagram-error');
  if (!holder || !dataEl) { return; }
  var tools = document.querySelectorAll('.diagram-tools [data-zoom]');
  var STEP = 1.25, MIN = 0.2, MAX = 4;

  function fail(err) {
    if (errorEl) { errorEl.hidden = false; }
    tools.forEach(function (b) { b.disabled = true; });
    if (window.console && err) { console.error(err); }
  }

  var data;
  try { data = JSON.parse(dataEl.textContent || '{}'); } catch (e) { fail(e); return; }
  if (!data.xml || typeof window.BpmnJS !== 'function') { fail(new Error('bpmn-js not loaded or no diagram')); return; }

  var viewer = new window.BpmnJS({ container: holder });

  function show(level) {
    // the current zoom as a data attribute: for the tests, and so the state can be read without bpmn-js
    holder.setAttribute('data-zoom', String(Math.round(level * 1000) / 1000));
  }

  function zoom(how) {
    var canvas = viewer.get('canvas');
    if (how === 'fit') {
      show(canvas.zoom('fit-viewport', 'auto'));
      return;
    }
    var now = canvas.zoom();
    var next = Math.min(MAX, Math.max(MIN, how === 'in' ? now * STEP : now / STEP));
    var box = canvas.viewbox();
    // zoom around the middle of what is on screen, not the top-left corner
    show(canvas.zoom(next, { x: box.x + box.width / 2, y: box.y + box.height / 2 }));
  }

  var READABLE = 0.8;  // below ~0.6 the step names cannot be read

  function openReadable() {
    // the whole process when it is readable that way; else readable size, centred on the current step
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    var fitted = canvas.zoom('fit-viewport', 'auto');
    if (fitted >= 0.6) { show(fitted); return; }
    var ids = Object.keys(data.states || {});
    var pending = ids.filter(function (id) { return data.states[id] !== 'done' && registry.get(id); });
    // an officer's step before a waiting timer or message event
    var here = pending.filter(function (id) { return registry.get(id).type === 'bpmn:UserTask'; })[0] || pending[0];
    if (data.focus && registry.get(data.focus)) { here = data.focus; }  // e.g. an incident's failed element
    var el = registry.get(here || ids[0] || '') || null;
    var centre = el ? { x: el.x + (el.width || 0) / 2, y: el.y + (el.height || 0) / 2 } : null;
    show(canvas.zoom(READABLE, centre || 'auto'));
    if (centre) {
      var box = canvas.viewbox();
      canvas.viewbox({ x: centre.x - box.width / 2, y: centre.y - box.height / 2, width: box.width, height: box.height });
    }
  }

  function mark() {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    openReadable();
    Object.keys(data.states || {}).forEach(function (id) {
      var state = data.states[id];
      if (registry.get(id) && ['done', 'active', 'overdue'].indexOf(state) >= 0) {
        canvas.addMarker(id, state);
      }
    });
    tools.forEach(function (b) {
      b.addEventListener('click', function () { zoom(b.getAttribute('data-zoom')); });
    });
    viewer.on('canvas.viewbox.changed', function (e) { show(e.viewbox.scale); });
  }
  // bpmn-js >= 7: importXML(xml) returns a promise (a second argument would name the diagram to open)
  viewer.importXML(data.xml).then(function (r) {
    if (r && r.warnings && r.warnings.length && window.console) { console.warn(r.warnings); }
    mark();
  }).catch(fail);
})();
