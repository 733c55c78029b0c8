// Statistics page: draws each chart described in #stats-charts with Apache ECharts (served from node_modules);
// a click on a bar or slice opens the list of its cases.
(function () {
  var el = document.getElementById('stats-charts');
  if (!el || !window.echarts) return;
  var specs = JSON.parse(el.textContent);
  var charts = [];
  function drillUrl(spec, seriesIndex, dataIndex) {
    if (spec.urls) return spec.urls[dataIndex];
    if (!spec.drill) return null;
    var s = spec.series[seriesIndex] || {};
    var sep = spec.drill.base.indexOf('?') >= 0 ? '&' : '?';
    return spec.drill.base + sep + 'measure=' + encodeURIComponent(s.measure || 'received') +
      '&dim=' + encodeURIComponent(spec.drill.dim) + '&key=' + encodeURIComponent(spec.drill.keys[dataIndex]);
  }
  specs.forEach(function (spec) {
    var node = document.getElementById(spec.id);
    if (!node) return;
    var chart = echarts.init(node, null, {renderer: 'canvas'});
    var option;
    if (spec.kind === 'pie') {
      option = {
        tooltip: {trigger: 'item', formatter: '{b}: {c} ({d}%)'},
        legend: {bottom: 0},
        series: [{type: 'pie', radius: ['35%', '65%'], data: spec.slices, label: {formatter: '{b}\n{c}'}}]
      };
    } else {
      var cat = {type: 'category', data: spec.categories, axisLabel: {interval: 0, hideOverlap: true}};
      var val = {type: 'value', minInterval: 1};
      if (spec.horizontal) { cat.inverse = true; cat.axisLabel.width = 110; cat.axisLabel.overflow = 'truncate'; }
      else { cat.axisLabel.rotate = spec.categories.length > 6 ? 45 : 0; }
      option = {
        tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}},
        legend: {top: 0, type: 'scroll'},
        grid: {left: spec.horizontal ? 120 : 40, right: 16, top: 30, bottom: spec.horizontal ? 24 : 60},
        xAxis: spec.horizontal ? val : cat,
        yAxis: spec.horizontal ? cat : val,
        series: spec.series.map(function (s) { return {name: s.name, type: 'bar', data: s.data}; })
      };
    }
    chart.setOption(option);
    chart.on('click', function (p) {
      var url = spec.kind === 'pie' ? (spec.slices[p.dataIndex] || {}).url : drillUrl(spec, p.seriesIndex, p.dataIndex);
      if (url) window.location.href = url;
    });
    node.style.cursor = 'pointer';
    charts.push(chart);
  });
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });
  window.statsChartsReady = true;
})();
