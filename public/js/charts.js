// Charts for <div data-chart data-src="..."> (drawn by app.js once the JSON arrives). The JSON is
// uPlot's { options, data } plus optional hints that JSON cannot express as functions:
//   kind: 'bars' | 'line'   stacked: true   categories: [labels for x = 0..n-1]
//   tz: IANA zone for time axes   units: { y: 'count' | 'tokens' | 'users' | 'usd' | 'ms' }
//   empty: text shown instead of an all-zero chart
// Specs without hints draw as before (lines), with readable axes, a tooltip and theme colours
// taken from the CSS variables; charts redraw when the colour scheme or their width changes.
(function () {
  'use strict';
  var PALETTE = ['#2f6fed', '#e07b39', '#2f9e6e', '#9b59b6', '#d9534f', '#17a2b8', '#c9a227', '#6c757d', '#e83e8c', '#20c997'];

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name);
    return (v && v.trim()) || fallback;
  }

  function compact(n) {
    if (n == null || !isFinite(n)) return '';
    var a = Math.abs(n);
    var f = function (x, d) { return x.toFixed(d).replace(/\.0+$/, ''); };
    if (a >= 1e9) return f(n / 1e9, a >= 1e10 ? 0 : 1) + 'B';
    if (a >= 1e6) return f(n / 1e6, a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return f(n / 1e3, a >= 1e4 ? 0 : 1) + 'k';
    if (a > 0 && a < 1) return f(n, 2);
    return f(n, Number.isInteger(n) ? 0 : 1);
  }

  function fmtValue(v, unit) {
    if (v == null) return '—';
    if (unit === 'usd') return '$' + (Math.abs(v) >= 1000 ? compact(v) : Math.abs(v) > 0 && Math.abs(v) < 0.01 ? v.toFixed(4) : v.toFixed(2));
    if (unit === 'ms') return Math.round(v) + ' ms';
    return compact(v);
  }

  function withAlpha(color, alpha) {
    var m = /^#([0-9a-f]{6})$/i.exec(color || '');
    if (!m) return color;
    return color + Math.round(alpha * 255).toString(16).padStart(2, '0');
  }

  // A floating box at the cursor with the x value and every visible series' (unstacked) value.
  function tooltipPlugin(xLabel, unit, raw, colors) {
    var tip;
    return {
      hooks: {
        init: function (u) {
          tip = document.createElement('div');
          tip.className = 'chart-tip';
          tip.hidden = true;
          u.over.appendChild(tip);
          u.over.addEventListener('mouseleave', function () { tip.hidden = true; });
        },
        setCursor: function (u) {
          var i = u.cursor.idx;
          if (i == null || u.cursor.left < 0) { tip.hidden = true; return; }
          tip.textContent = '';
          var head = document.createElement('div');
          head.className = 'chart-tip-x';
          head.textContent = xLabel(u, u.data[0][i]);
          tip.appendChild(head);
          for (var s = 1; s < u.series.length; s++) {
            var ser = u.series[s];
            if (!ser.show) continue;
            var row = document.createElement('div');
            var dot = document.createElement('span');
            dot.className = 'chart-tip-dot';
            dot.style.background = colors[s - 1] || '#888';
            row.appendChild(dot);
            row.appendChild(document.createTextNode(ser.label + ': ' + fmtValue(raw(s, i), unit)));
            tip.appendChild(row);
          }
          tip.hidden = false;
          var w = u.over.clientWidth;
          var x = u.cursor.left + 12;
          if (x + tip.offsetWidth > w) x = Math.max(0, u.cursor.left - tip.offsetWidth - 12);
          tip.style.left = x + 'px';
          tip.style.top = Math.max(0, u.cursor.top - tip.offsetHeight - 8) + 'px';
        },
      },
    };
  }

  // Time-axis tick spacings in seconds (uPlot's own list from a minute up).
  var TIME_INCRS = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400];

  function build(el, spec) {
    var o = spec.options || {};
    var unit = (spec.units && spec.units.y) || 'count';
    var cats = Array.isArray(spec.categories) ? spec.categories : null;
    var bars = spec.kind === 'bars' && window.uPlot.paths && window.uPlot.paths.bars;
    var fg = cssVar('--fg', '#1b1f24');
    var muted = cssVar('--muted', '#667085');
    var grid = cssVar('--border', '#e4e7ec');
    var data = (spec.data || [[]]).map(function (a) { return a.slice(); });
    var raw = function (s, i) { return spec.data[s] ? spec.data[s][i] : null; };
    var seriesOpts = (o.series || [{}]).map(function (s) { return Object.assign({}, s); });

    // Stacked: each series becomes the running sum; drawn topmost first so lower ones overlay it.
    var order = seriesOpts.slice(1).map(function (_, k) { return k + 1; });
    if (spec.stacked) {
      for (var s = 2; s < data.length; s++) for (var j = 0; j < data[s].length; j++) data[s][j] = (data[s][j] || 0) + (data[s - 1][j] || 0);
      order.reverse();
    }
    var plotData = [data[0]].concat(order.map(function (k) { return data[k]; }));
    var ys = order.map(function (k, n) {
      var s = seriesOpts[k] || {};
      var color = s.stroke || PALETTE[(k - 1) % PALETTE.length];
      var isBars = (bars || s.bars) && window.uPlot.paths && window.uPlot.paths.bars;
      var out = Object.assign({ label: 'Series ' + k, width: isBars ? 1 : 2 }, s, { stroke: color });
      delete out.bars;
      if (isBars) {
        out.paths = window.uPlot.paths.bars({ size: [cats ? 0.7 : 0.8, 120], align: 0 });
        out.points = { show: false };
        if (!s.fill) out.fill = spec.stacked ? color : withAlpha(color, 0.75);
      } else if (!s.fill && !o.series) {
        out.fill = withAlpha(color, 0.12);
      }
      out.value = function (u, v, si, di) { return di == null ? '—' : fmtValue(raw(order[si - 1], di), unit); };
      return out;
    });
    var xSeries = Object.assign({}, seriesOpts[0] || {});
    if (cats) xSeries.value = function (u, v) { return v == null ? '' : cats[v] || ''; };

    var axisBase = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    var xAxis = Object.assign({}, axisBase);
    var yAxis = Object.assign({}, axisBase, { size: 56, values: function (u, splits) { return splits.map(function (v) { return fmtValue(v, unit); }); } });
    var scales = Object.assign({}, o.scales || {});
    if (cats) {
      var n = cats.length;
      scales.x = Object.assign({ time: false }, scales.x || {}, { time: false, range: function () { return [-0.5, Math.max(0.5, n - 0.5)]; } });
      xAxis.splits = function () { return cats.map(function (_, i) { return i; }); };
      xAxis.values = function (u, splits) { return splits.map(function (i) { var c = cats[i] || ''; return c.length > 22 ? c.slice(0, 21) + '…' : c; }); };
      xAxis.grid = { show: false };
      // Slanted labels run right of their bar: room for the last one.
      if (n > 5) { xAxis.rotate = -30; xAxis.size = 70; if (!o.padding) o = Object.assign({}, o, { padding: [null, 36, null, null] }); }
    } else if (data[0].length) {
      var xs = data[0];
      var step = xs.length > 1 ? xs[1] - xs[0] : 3600;
      // Ticks no closer than one bucket: a week of day bars is labelled by day, not every 8 hours.
      // (A day bucket across a daylight-saving change is 23 or 25 hours: the next step up is a day.)
      xAxis.incrs = TIME_INCRS.filter(function (i) { return i >= step * 0.9; });
      // Half a bucket of room on each side so the first and last bars are whole.
      if (bars) scales.x = Object.assign({}, scales.x || {}, { range: function () { return [xs[0] - step / 2, xs[xs.length - 1] + step / 2]; } });
    }
    if (bars || spec.stacked) scales.y = Object.assign({}, scales.y || {}, { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } });

    var tzName = spec.tz;
    var tzDate = tzName && window.uPlot.tzDate ? function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), tzName); } : null;
    var xLabel = cats
      ? function (u, v) { return cats[v] || ''; }
      : function (u, v) {
          try {
            return new Date(v * 1000).toLocaleString(undefined, Object.assign({ month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }, tzName ? { timeZone: tzName } : {}));
          } catch (_) { return String(v); }
        };

    var opts = Object.assign({}, o, {
      width: o.width || el.clientWidth || 600,
      height: o.height || Number(el.getAttribute('data-height')) || 240,
      series: [xSeries].concat(ys),
      scales: scales,
      axes: o.axes || [xAxis, yAxis],
      legend: Object.assign({ live: true }, o.legend || {}),
      cursor: Object.assign({ points: { show: !bars } }, o.cursor || {}),
      plugins: (o.plugins || []).concat([tooltipPlugin(xLabel, unit, function (s, i) { return raw(order[s - 1], i); }, ys.map(function (y) { return y.stroke; }))]),
    });
    if (tzDate && !o.tzDate) opts.tzDate = tzDate;
    if (!o.title) delete opts.title;
    el.style.setProperty('--chart-fg', fg);
    return { opts: opts, data: plotData };
  }

  function draw(el, spec) {
    el._chartSpec = spec;
    if (el._uplot) { el._uplot.destroy(); el._uplot = null; }
    el.textContent = '';
    if (spec.empty) {
      var p = document.createElement('p');
      p.className = 'chart-empty muted';
      p.textContent = spec.empty;
      el.appendChild(p);
      return;
    }
    var b = build(el, spec);
    el._uplot = new window.uPlot(b.opts, b.data, el);
    if (window.ResizeObserver && !el._resize) {
      var last = el.clientWidth;
      el._resize = new ResizeObserver(function () {
        if (!el._uplot || Math.abs(el.clientWidth - last) < 4) return;
        last = el.clientWidth;
        el._uplot.setSize({ width: el.clientWidth, height: Number(el.getAttribute('data-height')) || 240 });
      });
      el._resize.observe(el);
    }
  }

  function redrawAll() {
    document.querySelectorAll('[data-chart]').forEach(function (el) { if (el._chartSpec) draw(el, el._chartSpec); });
  }
  if (window.matchMedia) {
    var mq = window.matchMedia('(prefers-color-scheme: dark)');
    if (mq.addEventListener) mq.addEventListener('change', redrawAll);
  }
  new MutationObserver(redrawAll).observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });

  window.SluiceCharts = { draw: draw, redrawAll: redrawAll, format: fmtValue };
})();
