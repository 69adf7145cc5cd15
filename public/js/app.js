// Client glue for server-rendered pages: charts are drawn from <div data-chart data-src="..."> by
// uPlot once the fragment that holds them is in the document (full load or htmx swap).
(function () {
  'use strict';
  function drawCharts(root) {
    if (!window.uPlot) return;
    root.querySelectorAll('[data-chart]:not([data-chart-drawn])').forEach(function (el) {
      el.setAttribute('data-chart-drawn', '1');
      fetch(el.getAttribute('data-src'), { headers: { accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error('chart data ' + r.status)); })
        .then(function (spec) {
          var opts = Object.assign({ width: el.clientWidth || 600, height: Number(el.getAttribute('data-height')) || 240 }, spec.options || {});
          new window.uPlot(opts, spec.data, el);
        })
        .catch(function (e) { el.textContent = 'Chart unavailable: ' + e.message; });
    });
  }
  document.addEventListener('DOMContentLoaded', function () { drawCharts(document); });
  document.addEventListener('htmx:after:swap', function (e) { drawCharts(e.target || document); });
})();
