/* Administrator console: the DMN decision table in dmn-js (decision-table view only).
 *
 * Save posts the XML; the server validates (DMN schema, SpiffWorkflow's DMN parser, every cell compiled under the
 * script policy, the calling processes parsed with the table) and either stores a draft or answers 422 with the cells
 * at fault. Those cells are marked through a style rule keyed on dmn-js's `data-element-id` (the table re-renders its
 * cells on every edit, a class set on them would be lost).
 */
(function () {
  'use strict';

  var cfgNode = document.getElementById('admin-dmn-config');
  if (!cfgNode) { return; }
  var cfg = JSON.parse(cfgNode.textContent);
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var statusEl = document.getElementById('save-status');
  var saveBtn = document.getElementById('btn-save');
  var errorBox = document.getElementById('error-list');
  var errorItems = document.getElementById('error-items');
  var marks = document.createElement('style');
  document.head.appendChild(marks);
  var modeler;
  var dirty = false;

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = 'save-status' + (kind ? ' ' + kind : '');
  }

  function cssId(id) { return String(id).replace(/["\\]/g, ''); }

  function clearErrors() {
    marks.textContent = '';
    while (errorItems.firstChild) { errorItems.removeChild(errorItems.firstChild); }
    errorBox.hidden = true;
  }

  function cellOf(id) {
    return document.querySelector('#dmn-table [data-element-id="' + cssId(id) + '"]') ||
      document.querySelector('#dmn-table [data-row-id="' + cssId(id) + '"]');
  }

  function showErrors(errors) {
    clearErrors();
    var rules = [];
    errors.forEach(function (err) {
      var item = document.createElement('li');
      var text = document.createElement('span');
      text.textContent = err.message;
      item.appendChild(text);
      if (err.element_id) {
        var sel = '#dmn-table [data-element-id="' + cssId(err.element_id) + '"], #dmn-table [data-row-id="' +
          cssId(err.element_id) + '"]';
        rules.push(sel + '{background:#fdecea !important;outline:2px solid #c0392b;outline-offset:-2px}');
        item.setAttribute('data-element-id', err.element_id);
        if (cellOf(err.element_id)) {
          var go = document.createElement('button');
          go.type = 'button';
          go.className = 'linkbtn';
          go.textContent = '定位';
          go.addEventListener('click', function () {
            var cell = cellOf(err.element_id);
            if (cell) { cell.scrollIntoView({ block: 'center', inline: 'center' }); }
          });
          item.appendChild(document.createTextNode(' '));
          item.appendChild(go);
        }
      }
      errorItems.appendChild(item);
    });
    marks.textContent = rules.join('\n');
    errorBox.hidden = errors.length === 0;
  }

  function save() {
    window.adminEditor.saveDraft({
      xml: function () { return modeler.saveXML({ format: true }).then(function (result) { return result.xml; }); },
      url: cfg.saveUrl, csrf: csrf, button: saveBtn, setStatus: setStatus,
      saved: function () { clearErrors(); dirty = false; },
      refused: showErrors
    });
  }

  function openTable() {
    var view = modeler.getViews().filter(function (v) { return v.type === 'decisionTable'; })[0];
    if (!view) { throw new Error('文件中没有决策表'); }
    return modeler.open(view);
  }

  // Chinese labels for the table's own words (dmn-js's translate hook); what is not listed stays English
  var ZH = {
    'Hit policy:': '命中策略：', 'Hit policy': '命中策略', 'When': '当', 'And': '且', 'Then': '则', 'Annotations': '说明', 'Annotation': '说明',
    'Add rule': '添加规则', 'Add rule above': '在上方添加规则', 'Add rule below': '在下方添加规则',
    'Copy rule': '复制规则', 'Cut rule': '剪切规则', 'Delete': '删除', 'Edit': '编辑', 'Input': '输入',
    'Output': '输出', 'Add input': '添加输入列', 'Add output': '添加输出列', 'Edit string': '编辑文字',
    'Edit number': '编辑数字', 'Edit boolean': '编辑布尔值', 'Move rule': '移动规则'
  };
  var translateModule = {
    translate: ['value', function (template, replacements) {
      replacements = replacements || {};
      var text = ZH[template] || template;
      return text.replace(/{([^}]+)}/g, function (_, key) { return replacements[key] || '{' + key + '}'; });
    }]
  };
  // (dmn-js hands each view its own options: `common.additionalModules` would be replaced by the view's)
  modeler = new window.DmnJS({ container: '#dmn-table', decisionTable: { additionalModules: [translateModule] } });
  window.adminDmn = modeler;  // tests read the edited XML through page.evaluate
  modeler.on('views.changed', function () {
    var viewer = modeler.getActiveViewer();
    if (viewer && !viewer.__watched) {
      viewer.__watched = true;
      viewer.get('eventBus').on('elements.changed', function () {
        if (!dirty) { dirty = true; setStatus('有未保存的修改'); }
      });
    }
  });
  window.addEventListener('beforeunload', function (e) {
    if (dirty) { e.preventDefault(); e.returnValue = ''; }
  });

  fetch(cfg.xmlUrl, { credentials: 'same-origin' }).then(function (r) {
    if (!r.ok) { throw new Error('无法读取决策表（' + r.status + '）'); }
    return r.text();
  }).then(function (xml) {
    return modeler.importXML(xml);
  }).then(function (result) {
    return openTable().then(function () { return result; });
  }).then(function (result) {
    dirty = false;
    saveBtn.disabled = false;
    var warn = (result.warnings || []).length;
    setStatus('已加载 v' + cfg.version + (warn ? '（导入提示 ' + warn + ' 条）' : ''));
    document.body.setAttribute('data-dmn-ready', '1');
  }).catch(function (e) {
    setStatus('加载失败：' + e.message, 'bad');
  });
  saveBtn.addEventListener('click', save);
}());
