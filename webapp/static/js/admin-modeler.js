/* Administrator console: bpmn-js modeler with a "运行属性" form for what makes a Spiff flow run.
 *
 * The UMD build of bpmn-js-properties-panel exposes the panel and the BPMN provider but not its entry components,
 * so the run-time properties are edited in a small form of our own beside the standard panel. Every edit goes
 * through `modeling.updateProperties` / `modeling.updateModdleProperties`, so it is undoable and marks the
 * diagram dirty like any other edit. Save posts the XML; the server validates (XSD + lint) and either stores a
 * draft or answers 422 with the elements at fault, which are marked on the canvas.
 */
(function () {
  'use strict';

  var cfgNode = document.getElementById('admin-modeler-config');
  if (!cfgNode) { return; }
  var cfg = JSON.parse(cfgNode.textContent);
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var statusEl = document.getElementById('save-status');
  var saveBtn = document.getElementById('btn-save');
  var panel = document.getElementById('run-props');
  var errorBox = document.getElementById('error-list');
  var errorItems = document.getElementById('error-items');

  var SCRIPT_HOSTS = ['bpmn:Task', 'bpmn:UserTask', 'bpmn:ManualTask', 'bpmn:ServiceTask', 'bpmn:BusinessRuleTask',
    'bpmn:CallActivity', 'bpmn:SubProcess', 'bpmn:Transaction', 'bpmn:SendTask', 'bpmn:ReceiveTask'];
  var LANE_ROLE = { '申请人': 'applicant', '用人单位': 'unit_hr', '主管部门': 'dept', '编办': 'bianban',
    '人社部门': 'hrss', '评委会办公室': 'committee' };

  var modeler, modeling, moddle, canvas, overlays, elementRegistry, selection;
  var current = null;      // the element whose run-time properties are shown
  var dirty = false;
  var errorOverlays = [];

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.className = 'save-status' + (kind ? ' ' + kind : '');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Small DOM helpers (no innerHTML with data: everything is text)
  // ---------------------------------------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') { node.textContent = attrs[k]; } else if (attrs[k] !== undefined && attrs[k] !== null) {
        node.setAttribute(k, attrs[k]);
      }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  function field(label, control, help) {
    return el('div', { 'class': 'rp-field' }, [
      el('label', { 'for': control.id, text: label }), control,
      help ? el('small', { 'class': 'hint', text: help }) : null
    ]);
  }

  var uid = 0;
  function input(value, onChange, attrs) {
    var i = el('input', Object.assign({ id: 'rp-' + (++uid), type: 'text' }, attrs || {}));
    i.value = value || '';
    i.addEventListener('change', function () { onChange(i.value); });
    return i;
  }

  function textarea(value, onChange, attrs) {
    var t = el('textarea', Object.assign({ id: 'rp-' + (++uid), rows: 4, spellcheck: 'false' }, attrs || {}));
    t.value = value || '';
    t.addEventListener('change', function () { onChange(t.value); });
    return t;
  }

  function select(options, value, onChange, attrs) {
    var s = el('select', Object.assign({ id: 'rp-' + (++uid) }, attrs || {}));
    var seen = false;
    options.forEach(function (o) {
      var opt = Array.isArray(o) ? o : [o, o];
      var node = el('option', { value: opt[0], text: opt[1] });
      if (opt[0] === (value || '')) { node.selected = true; seen = true; }
      s.appendChild(node);
    });
    if (value && !seen) {  // keep an unknown value visible instead of silently replacing it
      var odd = el('option', { value: value, text: value + '（不在可选列表中）' });
      odd.selected = true;
      s.appendChild(odd);
    }
    s.addEventListener('change', function () { onChange(s.value); });
    return s;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Moddle helpers: extension elements of a business object (or of an event definition)
  // ---------------------------------------------------------------------------------------------------------------
  function is(bo, type) { return bo && typeof bo.$instanceOf === 'function' && bo.$instanceOf(type); }

  function extValues(bo) {
    return (bo.extensionElements && bo.extensionElements.values) || [];
  }

  function findExt(bo, type) {
    return extValues(bo).filter(function (v) { return v.$type === type; })[0];
  }

  function ensureExtensionElements(element, bo) {
    var ext = bo.extensionElements;
    if (!ext) {
      ext = moddle.create('bpmn:ExtensionElements', { values: [] });
      ext.$parent = bo;
      modeling.updateModdleProperties(element, bo, { extensionElements: ext });
    }
    return ext;
  }

  function addExt(element, bo, child) {
    var ext = ensureExtensionElements(element, bo);
    child.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: (ext.values || []).concat([child]) });
    return child;
  }

  function removeExt(element, bo, child) {
    var ext = bo.extensionElements;
    if (!ext) { return; }
    modeling.updateModdleProperties(element, ext, {
      values: (ext.values || []).filter(function (v) { return v !== child; })
    });
  }

  /** A spiffworkflow element holding text (calledDecisionId, preScript, postScript, messageVariable). */
  function getBodyExt(bo, type) {
    var node = findExt(bo, type);
    return node ? (node.value || '') : '';
  }

  function setBodyExt(element, bo, type, value) {
    var node = findExt(bo, type);
    value = (value || '').replace(/\r\n/g, '\n');
    if (!value.trim()) {
      if (node) { removeExt(element, bo, node); }
      return;
    }
    if (node) {
      modeling.updateModdleProperties(element, node, { value: value });
    } else {
      addExt(element, bo, moddle.create(type, { value: value }));
    }
  }

  /** spiffworkflow:properties/property name=… value=… */
  function getProp(bo, name) {
    var props = findExt(bo, 'spiffworkflow:properties');
    var p = props && (props.property || []).filter(function (x) { return x.name === name; })[0];
    return p ? (p.value || '') : '';
  }

  function setProp(element, bo, name, value) {
    value = (value || '').trim();
    var props = findExt(bo, 'spiffworkflow:properties');
    var p = props && (props.property || []).filter(function (x) { return x.name === name; })[0];
    if (!value) {
      if (p) {
        var rest = props.property.filter(function (x) { return x !== p; });
        if (rest.length) {
          modeling.updateModdleProperties(element, props, { property: rest });
        } else {
          removeExt(element, bo, props);
        }
      }
      return;
    }
    if (p) {
      modeling.updateModdleProperties(element, p, { value: value });
      return;
    }
    if (!props) {
      props = addExt(element, bo, moddle.create('spiffworkflow:properties', { property: [] }));
    }
    var created = moddle.create('spiffworkflow:property', { name: name, value: value });
    created.$parent = props;
    modeling.updateModdleProperties(element, props, { property: (props.property || []).concat([created]) });
  }

  function formalExpression(body) {
    return moddle.create('bpmn:FormalExpression', { body: body });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The form, per element type
  // ---------------------------------------------------------------------------------------------------------------
  function section(title, nodes) {
    return el('fieldset', { 'class': 'rp-group' }, [el('legend', { text: title })].concat(nodes));
  }

  function renderSequenceFlow(element, bo) {
    var out = [];
    var source = bo.sourceRef;
    var isDefault = source && source.default === bo;
    var cond = bo.conditionExpression ? (bo.conditionExpression.body || '') : '';
    var gatewaySource = is(source, 'bpmn:ExclusiveGateway') || is(source, 'bpmn:InclusiveGateway');
    var ta = textarea(cond, function (v) {
      v = v.trim();
      modeling.updateProperties(element, { conditionExpression: v ? formalExpression(v) : undefined });
    }, { rows: 3, 'data-field': 'condition', placeholder: "例如：unit_decision == 'approve'" });
    if (isDefault) { ta.disabled = true; }
    out.push(field('条件表达式（Python）', ta,
      isDefault ? '默认连线不设条件：其余连线条件都不成立时走此连线。'
        : '在流程数据上求值，结果为真时走此连线；网关的每条非默认出口都须有条件。'));
    if (gatewaySource) {
      var box = el('input', { type: 'checkbox', id: 'rp-' + (++uid), 'data-field': 'default' });
      box.checked = !!isDefault;
      box.addEventListener('change', function () {
        var gw = elementRegistry.get(source.id);
        if (box.checked) {
          if (bo.conditionExpression) { modeling.updateProperties(element, { conditionExpression: undefined }); }
          modeling.updateProperties(gw, { 'default': bo });
        } else if (source.default === bo) {
          modeling.updateProperties(gw, { 'default': undefined });
        }
      });
      out.push(el('div', { 'class': 'rp-field rp-check' }, [box,
        el('label', { 'for': box.id, text: '网关「' + (source.name || source.id) + '」的默认连线' })]));
    }
    return section('连线条件', out);
  }

  function renderTimer(element, def) {
    var kind = def.timeDate ? 'timeDate' : def.timeDuration ? 'timeDuration' : def.timeCycle ? 'timeCycle' : 'timeDate';
    var expr = def[kind] ? (def[kind].body || '') : '';
    var kindSel = select([['timeDate', '时间点 timeDate'], ['timeDuration', '时长 timeDuration'],
      ['timeCycle', '周期 timeCycle']], kind, function (k) {
      var props = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      var body = exprInput.value.trim();
      if (body) { props[k] = formalExpression(body); }
      modeling.updateModdleProperties(element, def, props);
    }, { 'data-field': 'timer-kind' });
    var exprInput = input(expr, function (v) {
      var props = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      v = v.trim();
      if (v) { props[kindSel.value] = formalExpression(v); }
      modeling.updateModdleProperties(element, def, props);
    }, { 'data-field': 'timer', placeholder: "例如：publicity['end_at']" });
    return section('定时器', [field('类型', kindSel),
      field('表达式（Python）', exprInput, 'timeDate 一般取服务操作算出的带时区 ISO 时间，如 acceptance[\'rongque_deadline_at\']。')]);
  }

  function renderMessageVariable(element, def) {
    return section('消息', [
      field('消息内容存入变量', input(getBodyExt(def, 'spiffworkflow:messageVariable'), function (v) {
        setBodyExt(element, def, 'spiffworkflow:messageVariable', v.trim());
      }, { 'data-field': 'messageVariable' }), '引擎按办件编号关联消息，消息内容写入该变量。')
    ]);
  }

  function renderLane(element, bo) {
    var names = cfg.lanes.map(function (n) { return [n, n + '（' + LANE_ROLE[n] + '）']; });
    return section('泳道 → 角色', [field('泳道名称（决定由哪个角色办理）', select([['', '— 请选择 —']].concat(names),
      bo.name || '', function (v) { modeling.updateProperties(element, { name: v }); }, { 'data-field': 'lane' }),
    '只允许这六个名称；其他名称在部署时会被拒绝。')]);
  }

  function renderUserTask(element, bo) {
    var forms = [['', '— 请选择 —']].concat(cfg.forms.map(function (f) { return [f, f]; }));
    return section('用户任务', [
      field('表单（JSON Schema 文件）', select(forms, getProp(bo, 'formJsonSchemaFilename'), function (v) {
        setProp(element, bo, 'formJsonSchemaFilename', v);
      }, { 'data-field': 'form' }), '办理人看到并提交的表单。'),
      field('办理期限（工作日）', input(getProp(bo, 'dueWorkingDays'), function (v) {
        setProp(element, bo, 'dueWorkingDays', v);
      }, { 'data-field': 'dueWorkingDays', inputmode: 'numeric', placeholder: '不填则无期限' }),
      '从任务开始起按工作日计算（含调休）。'),
      field('到期日表达式（可选）', input(getProp(bo, 'dueDateExpression'), function (v) {
        setProp(element, bo, 'dueDateExpression', v);
      }, { 'data-field': 'dueDateExpression', placeholder: "例如：filing['due']" }),
      '以流程数据中算出的日期作为办理期限（如备案到期日）。'),
      field('暂停原因', input(getProp(bo, 'holdReason'), function (v) {
        setProp(element, bo, 'holdReason', v);
      }, { 'data-field': 'holdReason', placeholder: '填写后该任务办理期间办件暂停计时' }),
      '任务未办结时办件处于“暂停（等待）”，法定时限停止计算。')
    ]);
  }

  function renderRuleId(element, bo) {
    var rules = [['', '— 无 —']].concat(cfg.ruleIds.map(function (r) { return [r, r]; }));
    return field('依据规则（ruleId）', select(rules, getProp(bo, 'ruleId'), function (v) {
      setProp(element, bo, 'ruleId', v);
    }, { 'data-field': 'ruleId' }), '完成时写入带该规则的决定记录。');
  }

  function renderScriptTask(element, bo) {
    return section('脚本任务', [field('脚本（Python，受限）', textarea(bo.script || '', function (v) {
      modeling.updateProperties(element, { script: v.replace(/\r\n/g, '\n'), scriptFormat: bo.scriptFormat || 'python' });
    }, { rows: 8, 'data-field': 'script' }), '只能读写流程数据；不能导入模块或访问文件。')]);
  }

  function renderServiceTask(element, bo) {
    var op = findExt(bo, 'spiffworkflow:serviceTaskOperator');
    var ops = [['', '— 请选择 —']].concat(Object.keys(cfg.operators).map(function (o) { return [o, o]; }));
    var nodes = [];
    nodes.push(field('服务操作', select(ops, op ? op.id : '', function (v) {
      if (!v) { if (op) { removeExt(element, bo, op); } return; }
      if (op) {
        modeling.updateModdleProperties(element, op, { id: v });
      } else {
        var params = moddle.create('spiffworkflow:parameters', { parameter: [] });
        var created = moddle.create('spiffworkflow:serviceTaskOperator', { id: v, resultVariable: '', parameters: params });
        params.$parent = created;
        addExt(element, bo, created);
      }
    }, { 'data-field': 'operator' }), '只能调用系统允许的操作。'));
    if (!op) { return section('服务任务', nodes); }
    nodes.push(field('结果变量', input(op.resultVariable || '', function (v) {
      modeling.updateModdleProperties(element, op, { resultVariable: v.trim() || undefined });
    }, { 'data-field': 'resultVariable' }), '操作返回的字典存入该变量，供后续条件和定时器使用。'));

    var list = (op.parameters && op.parameters.parameter) || [];
    var expected = cfg.operators[op.id] || [];
    var table = el('table', { 'class': 'rp-params' }, [el('thead', {}, [el('tr', {}, [
      el('th', { text: '参数' }), el('th', { text: '值（Python 表达式）' }), el('th', {})])])]);
    var tbody = el('tbody');
    list.forEach(function (p) {
      var del = el('button', { type: 'button', 'class': 'linkbtn', title: '删除参数', text: '删除' });
      del.addEventListener('click', function () {
        modeling.updateModdleProperties(element, op.parameters, {
          parameter: op.parameters.parameter.filter(function (x) { return x !== p; })
        });
      });
      tbody.appendChild(el('tr', {}, [
        el('td', {}, [input(p.id, function (v) { modeling.updateModdleProperties(element, p, { id: v.trim() }); },
          { 'data-param': 'id', 'aria-label': '参数名' })]),
        el('td', {}, [input(p.value, function (v) { modeling.updateModdleProperties(element, p, { value: v }); },
          { 'data-param': p.id, 'aria-label': '参数值' })]),
        el('td', {}, [del])]));
    });
    table.appendChild(tbody);
    nodes.push(table);
    var have = list.map(function (p) { return p.id; });
    var missing = expected.filter(function (n) { return have.indexOf(n) < 0; });
    var add = el('button', { type: 'button', text: '添加参数' + (missing.length ? '（' + missing.join('、') + '）' : '') });
    add.addEventListener('click', function () {
      var params = op.parameters;
      if (!params) {
        params = moddle.create('spiffworkflow:parameters', { parameter: [] });
        params.$parent = op;
        modeling.updateModdleProperties(element, op, { parameters: params });
      }
      var names = missing.length ? missing : ['param'];
      var added = names.map(function (n) {
        var p = moddle.create('spiffworkflow:parameter', { id: n, type: 'str', value: "''" });
        p.$parent = params;
        return p;
      });
      modeling.updateModdleProperties(element, params, { parameter: (params.parameter || []).concat(added) });
    });
    nodes.push(add);
    if (expected.length) {
      nodes.push(el('small', { 'class': 'hint', text: '该操作的参数：' + expected.join('、') + '。字符串值要加引号，如 \'refused\'。' }));
    }
    return section('服务任务', nodes);
  }

  function renderBusinessRule(element, bo) {
    var decisions = [['', '— 请选择 —']].concat(cfg.decisions.map(function (d) { return [d, d]; }));
    return section('规则任务', [field('调用决策（DMN）', select(decisions,
      getBodyExt(bo, 'spiffworkflow:calledDecisionId'), function (v) {
        setBodyExt(element, bo, 'spiffworkflow:calledDecisionId', v);
      }, { 'data-field': 'calledDecisionId' }), '决策表的输出写入流程数据。')]);
  }

  function renderScripts(element, bo) {
    return section('前置 / 后置脚本', [
      field('前置脚本（任务开始前）', textarea(getBodyExt(bo, 'spiffworkflow:preScript'), function (v) {
        setBodyExt(element, bo, 'spiffworkflow:preScript', v);
      }, { rows: 3, 'data-field': 'preScript' })),
      field('后置脚本（任务完成后）', textarea(getBodyExt(bo, 'spiffworkflow:postScript'), function (v) {
        setBodyExt(element, bo, 'spiffworkflow:postScript', v);
      }, { rows: 3, 'data-field': 'postScript' }))
    ]);
  }

  function render() {
    var element = current;
    while (panel.childNodes.length > 1) { panel.removeChild(panel.lastChild); }
    if (!element || element.type === 'label' || !element.businessObject) {
      panel.appendChild(el('p', { 'class': 'hint', text: '选择图中的元素以编辑其运行属性。' }));
      return;
    }
    var bo = element.businessObject;
    panel.appendChild(el('p', { 'class': 'rp-title' }, [
      el('b', { text: bo.name || '（未命名）' }), document.createTextNode(' '),
      el('code', { text: bo.id }), document.createTextNode(' · ' + bo.$type.replace('bpmn:', ''))]));
    var parts = [];
    if (is(bo, 'bpmn:SequenceFlow')) { parts.push(renderSequenceFlow(element, bo)); }
    if (is(bo, 'bpmn:Lane')) { parts.push(renderLane(element, bo)); }
    (bo.eventDefinitions || []).forEach(function (def) {
      if (is(def, 'bpmn:TimerEventDefinition')) { parts.push(renderTimer(element, def)); }
      if (is(def, 'bpmn:MessageEventDefinition') && (is(bo, 'bpmn:CatchEvent'))) {
        parts.push(renderMessageVariable(element, def));
      }
    });
    if (is(bo, 'bpmn:UserTask')) { parts.push(renderUserTask(element, bo)); }
    if (is(bo, 'bpmn:ScriptTask')) { parts.push(renderScriptTask(element, bo)); }
    if (is(bo, 'bpmn:ServiceTask')) { parts.push(renderServiceTask(element, bo)); }
    if (is(bo, 'bpmn:BusinessRuleTask')) { parts.push(renderBusinessRule(element, bo)); }
    if (is(bo, 'bpmn:Activity')) { parts.push(section('规则', [renderRuleId(element, bo)])); }
    if (SCRIPT_HOSTS.indexOf(bo.$type) >= 0) { parts.push(renderScripts(element, bo)); }
    if (!parts.length) {
      parts.push(el('p', { 'class': 'hint', text: '该类元素没有运行属性（名称和编号在下方“常规属性”中编辑）。' }));
    }
    parts.forEach(function (p) { panel.appendChild(p); });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Validation errors on the diagram
  // ---------------------------------------------------------------------------------------------------------------
  function clearErrors() {
    errorOverlays.forEach(function (o) { overlays.remove(o.overlay); canvas.removeMarker(o.id, 'has-error'); });
    errorOverlays = [];
    errorItems.textContent = '';
    errorBox.hidden = true;
  }

  function shortMessage(msg) {
    // "file 第 N 行 连线「…」(id)：problem" → "problem" on the canvas; the full text is in the list and the title.
    var i = msg.indexOf('：');
    var text = i >= 0 ? msg.slice(i + 1) : msg;
    return text.length > 80 ? text.slice(0, 78) + '…' : text;
  }

  function showErrors(errors) {
    clearErrors();
    errors.forEach(function (err) {
      var target = err.element_id && elementRegistry.get(err.element_id);
      var item = el('li', {}, [el('span', { text: err.message })]);
      if (target) {
        canvas.addMarker(target.id, 'has-error');
        var note = el('div', { 'class': 'error-overlay', title: err.message, text: '⚠ ' + shortMessage(err.message) });
        var pos = target.waypoints ? { top: -8, left: 0 } : { bottom: 4, left: 0 };
        errorOverlays.push({ id: target.id, overlay: overlays.add(target.id, 'validation-error', { position: pos, html: note }) });
        var go = el('button', { type: 'button', 'class': 'linkbtn', text: '定位' });
        go.addEventListener('click', function () {
          canvas.scrollToElement(target);
          selection.select(target);
        });
        item.appendChild(document.createTextNode(' '));
        item.appendChild(go);
        item.setAttribute('data-element-id', target.id);
      }
      errorItems.appendChild(item);
    });
    errorBox.hidden = errors.length === 0;
    if (errorOverlays.length) {  // bring the first faulty element into view at a readable size
      var first = elementRegistry.get(errorOverlays[0].id);
      canvas.zoom(1);
      canvas.scrollToElement(first, { top: 120, bottom: 120, left: 200, right: 200 });
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Save
  // ---------------------------------------------------------------------------------------------------------------
  function save() {
    window.adminEditor.saveDraft({
      xml: function () { return modeler.saveXML({ format: true }).then(function (result) { return result.xml; }); },
      url: cfg.saveUrl, csrf: csrf, button: saveBtn, setStatus: setStatus,
      saved: function (body) { clearErrors(); dirty = false; offerSimulation(body.simulationUrl); },
      refused: showErrors
    });
  }


  // ---------------------------------------------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------------------------------------------
  // Chinese labels for the standard palette, context pad and properties panel (bpmn-js's translate hook).
  var ZH = {
    'General': '常规', 'Documentation': '文档', 'Name': '名称', 'ID': '标识', 'Element documentation': '元素说明',
    'Process documentation': '流程说明', 'Executable': '可执行', 'Version tag': '版本标签',
    'Sequence flow': '连线', 'Process': '流程', 'Participant': '泳池', 'Lane': '泳道',
    'User task': '用户任务', 'Service task': '服务任务', 'Script task': '脚本任务', 'Business rule task': '规则任务',
    'Receive task': '接收任务', 'Start event': '开始事件', 'End event': '结束事件',
    'Exclusive gateway': '排他网关', 'Parallel gateway': '并行网关', 'Event-based gateway': '事件网关',
    'Intermediate catch event': '中间捕获事件', 'Boundary event': '边界事件', 'Timer': '定时器', 'Message': '消息',
    'Create task': '新建任务', 'Create gateway': '新建网关', 'Create start event': '新建开始事件',
    'Create end event': '新建结束事件', 'Create intermediate/boundary event': '新建中间/边界事件',
    'Create pool/participant': '新建泳池', 'Activate hand tool': '抓手工具', 'Activate lasso tool': '套索工具',
    'Activate create/remove space tool': '空间工具', 'Activate global connect tool': '连线工具',
    'Append task': '追加任务', 'Append gateway': '追加网关', 'Append end event': '追加结束事件',
    'Connect using sequence/message flow or association': '连线', 'Change element': '更改类型', 'Delete': '删除',
    'Remove': '删除', 'Add lane above': '上方添加泳道', 'Add lane below': '下方添加泳道',
    'Divide into two lanes': '分为两条泳道', 'Divide into three lanes': '分为三条泳道'
  };
  var translateModule = {
    translate: ['value', function (template, replacements) {
      replacements = replacements || {};
      var text = ZH[template] || template;
      return text.replace(/{([^}]+)}/g, function (_, key) { return replacements[key] || '{' + key + '}'; });
    }]
  };

  function init(spiffDescriptor) {
    var modules = [translateModule];
    if (window.BpmnJSPropertiesPanel) {
      modules.push(window.BpmnJSPropertiesPanel.BpmnPropertiesPanelModule,
        window.BpmnJSPropertiesPanel.BpmnPropertiesProviderModule);
    }
    if (window.BpmnJSTokenSimulation) {  // bpmn-js-token-simulation, bundled at set-up (scripts/bundle-assets.mjs)
      modules.push(window.BpmnJSTokenSimulation);
    }
    modeler = new window.BpmnJS({
      container: '#canvas',
      propertiesPanel: { parent: '#properties' },
      additionalModules: modules,
      moddleExtensions: { spiffworkflow: spiffDescriptor }
    });
    window.adminModeler = modeler;  // tests drive the modeler through page.evaluate
    modeling = modeler.get('modeling');
    moddle = modeler.get('moddle');
    canvas = modeler.get('canvas');
    overlays = modeler.get('overlays');
    elementRegistry = modeler.get('elementRegistry');
    selection = modeler.get('selection');
    var eventBus = modeler.get('eventBus');

    eventBus.on('selection.changed', function (e) {
      current = e.newSelection.length === 1 ? e.newSelection[0] : null;
      if (current && current.type === 'label' && current.labelTarget) { current = current.labelTarget; }
      render();
    });
    eventBus.on('elements.changed', function (e) {
      // Re-draw the form after undo/redo or canvas edits, but not while the user is typing in it.
      if (current && !panel.contains(document.activeElement)) {
        current = elementRegistry.get(current.id) || null;
        render();
      } else if (current && e.elements.some(function (x) { return x.id === current.id; })) {
        setTimeout(function () { if (!panel.contains(document.activeElement)) { render(); } }, 0);
      }
    });
    eventBus.on('commandStack.changed', function () {
      if (!dirty) { dirty = true; setStatus('有未保存的修改'); }
    });
    window.addEventListener('beforeunload', function (e) {
      if (dirty) { e.preventDefault(); e.returnValue = ''; }
    });

    fetch(cfg.xmlUrl, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) { throw new Error('无法读取流程图（' + r.status + '）'); }
      return r.text();
    }).then(function (xml) {
      return modeler.importXML(xml);
    }).then(function (result) {
      canvas.zoom('fit-viewport');
      dirty = false;
      saveBtn.disabled = false;
      var warn = (result.warnings || []).length;
      setStatus('已加载 v' + cfg.version + (warn ? '（导入提示 ' + warn + ' 条）' : ''));
      document.body.setAttribute('data-modeler-ready', '1');
      render();
    }).catch(function (e) {
      setStatus('加载失败：' + e.message, 'bad');
    });
    saveBtn.addEventListener('click', save);
    tokenSimulation(eventBus);
  }

  // Token simulation: play tokens through the diagram (one path at a time, the gateways ask which way). Modelling is
  // off while it plays, so saving is too.
  function tokenSimulation(eventBus) {
    var button = document.getElementById('btn-token-sim');
    if (!button || !window.BpmnJSTokenSimulation) { return; }
    button.hidden = false;
    button.addEventListener('click', function () { modeler.get('toggleMode').toggleMode(); });
    eventBus.on('tokenSimulation.toggleMode', function (e) {
      button.setAttribute('aria-pressed', e.active ? 'true' : 'false');
      document.body.classList.toggle('token-simulating', !!e.active);
      saveBtn.disabled = !!e.active;
      setStatus(e.active ? button.getAttribute('data-on') : button.getAttribute('data-off'));
      if (e.active) { showStartEvent(); }
    });
  }

  // The play buttons are drawn from 50 % zoom up: bring the process's start event into view at a readable zoom.
  function showStartEvent() {
    var start = elementRegistry.filter(function (x) {
      return x.type === 'bpmn:StartEvent' && (!x.parent || x.parent.type !== 'bpmn:SubProcess');
    })[0];
    if (canvas.zoom() < 0.8) { canvas.zoom(0.8); }
    if (start) { canvas.scrollToElement(start, { top: 120, left: 60, right: 60, bottom: 60 }); }
  }

  // After a save the draft can be replayed against recent cases (the 模拟 page).
  function offerSimulation(url) {
    var link = document.getElementById('btn-simulate');
    if (!link || !url) { return; }
    link.href = url;
    link.hidden = false;
  }

  fetch(cfg.moddleUrl, { credentials: 'same-origin' }).then(function (r) { return r.json(); })
    .then(init)
    .catch(function (e) { setStatus('加载失败：' + e.message, 'bad'); });
}());
