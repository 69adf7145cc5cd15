// Client glue for server-rendered pages: charts are drawn from <div data-chart data-src="..."> (or
// the JSON in data-spec when the page brought it) by
// uPlot once the fragment that holds them is in the document (full load or htmx swap); every htmx
// request carries the session's CSRF token; copy buttons copy the element they point at.
(function () {
  'use strict';
  function drawCharts(root) {
    if (!window.uPlot) return;
    root.querySelectorAll('[data-chart]:not([data-chart-drawn])').forEach(function (el) {
      el.setAttribute('data-chart-drawn', '1');
      // A chart whose data came with the page (data-spec) is drawn from it; others are fetched.
      var inline = el.getAttribute('data-spec');
      (inline ? Promise.resolve(inline).then(JSON.parse) : fetch(el.getAttribute('data-src'), { headers: { accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error('chart data ' + r.status)); }))
        .then(function (spec) {
          // charts.js (when loaded) draws with theme, axes, tooltips, bars and stacking hints.
          if (window.SluiceCharts) { window.SluiceCharts.draw(el, spec); return; }
          var opts = Object.assign({ width: el.clientWidth || 600, height: Number(el.getAttribute('data-height')) || 240 }, spec.options || {});
          // JSON cannot carry uPlot's path builders: a series with `bars: true` is drawn as bars.
          (opts.series || []).forEach(function (s) {
            if (s && s.bars && window.uPlot.paths && window.uPlot.paths.bars) { s.paths = window.uPlot.paths.bars({ size: [0.8, 64] }); delete s.bars; }
          });
          new window.uPlot(opts, spec.data, el);
        })
        .catch(function (e) { el.textContent = 'Chart unavailable: ' + e.message; });
    });
  }
  document.addEventListener('DOMContentLoaded', function () { drawCharts(document); });
  // The event fires on the element that made the request (often a form), not on the swapped
  // target, so look everywhere: charts already drawn are marked and skipped.
  document.addEventListener('htmx:after:swap', function () { drawCharts(document); });

  // The synchronizer token from <meta name="csrf-token">, sent on every htmx request (the server
  // ignores it on safe methods). Plain forms carry it in a hidden _csrf field instead.
  document.addEventListener('htmx:config:request', function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && e.detail && e.detail.ctx) e.detail.ctx.request.headers['X-CSRF-Token'] = meta.getAttribute('content');
  });

  // Behaviour declared in data attributes, so pages need no inline script (the CSP forbids it):
  // data-confirm on a form asks first; data-autosubmit on a field submits its form on change;
  // data-reset-on-success clears an htmx form once its request succeeded.
  document.addEventListener('submit', function (e) {
    var f = e.target;
    var msg = f && f.getAttribute && f.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener('change', function (e) {
    var el = e.target;
    if (el && el.matches && el.matches('[data-autosubmit]') && el.form) {
      if (el.form.requestSubmit) el.form.requestSubmit();
      else el.form.submit();
    }
  });
  document.addEventListener('htmx:after:request', function (e) {
    var el = e.target;
    var res = e.detail && e.detail.ctx && e.detail.ctx.response;
    if (el && el.matches && el.matches('form[data-reset-on-success]') && res && res.status < 400) el.reset();
  });

  // data-dismiss="<selector>" empties that element (closes a panel loaded by htmx).
  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-dismiss]');
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute('data-dismiss'));
    if (el) el.innerHTML = '';
  });

  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-copy]');
    if (!btn) return;
    var src = document.querySelector(btn.getAttribute('data-copy'));
    if (!src) return;
    var text = src.textContent.trim();
    var done = function () {
      var label = btn.textContent;
      btn.textContent = 'Copied';
      setTimeout(function () { btn.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done);
    else {
      var r = document.createRange();
      r.selectNodeContents(src);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      try { document.execCommand('copy'); done(); } catch (_) { /* the text stays selected for a manual copy */ }
    }
  });
})();
