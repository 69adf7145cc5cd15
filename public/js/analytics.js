// Behaviour of the usage analytics pages (marked with [data-analytics]):
// - the viewer's time zone goes into the `sluice_tz` cookie, so pages bucket days and hours the
//   way the viewer lives them (a page drawn in the UTC default is drawn again once);
// - live mode: while the switch is on and the tab visible, /ui/live is asked every few seconds
//   whether usage was written for what the page shows; only then is the page's body fetched
//   again (the same URL, as an htmx partial). The switch is remembered per browser; on by default;
// - hidden sort/dir fields follow the URL after a table-only sort, so later filter changes keep it;
// - custom date fields switch the time frame to "custom";
// - find boxes narrow long option lists (API keys, teams) without changing the filters;
// - back/forward reload the page (the server answers htmx requests with partials only).
(function () {
  'use strict';
  var LIVE_KEY = 'sluice.live';
  var COOKIE = 'sluice_tz';

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split(';') : [];
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].trim();
      if (p.indexOf(name + '=') === 0) {
        try { return decodeURIComponent(p.slice(name.length + 1)); } catch (_) { return null; }
      }
    }
    return null;
  }

  function syncTimeZone() {
    var tz;
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (_) { return; }
    if (!tz || readCookie(COOKIE) === tz) return;
    document.cookie = COOKIE + '=' + encodeURIComponent(tz) + '; Path=/; Max-Age=31536000; SameSite=Lax';
    var root = document.querySelector('[data-analytics][data-tz-source="default"]');
    if (root && root.getAttribute('data-tz') !== tz && !new URLSearchParams(location.search).has('tz')) location.reload();
  }

  var busy = 0;
  document.addEventListener('htmx:before:request', function () { busy++; });
  document.addEventListener('htmx:after:request', function () { busy = Math.max(0, busy - 1); });

  function setupLive() {
    var body = document.querySelector('[data-live-body]');
    var toggle = document.querySelector('[data-live-toggle]');
    if (!body || !toggle || !window.fetch) return;
    var status = document.querySelector('[data-live-status]');
    var interval = Number(body.getAttribute('data-live-interval')) || 5000;
    var seen = 0;
    var polling = false;
    var bodyVersion = function () {
      var v = 0;
      body.querySelectorAll('[data-live-version]').forEach(function (el) { v = Math.max(v, Number(el.getAttribute('data-live-version')) || 0); });
      return v;
    };
    seen = bodyVersion();
    var stored = null;
    try { stored = window.localStorage.getItem(LIVE_KEY); } catch (_) { /* private mode */ }
    toggle.checked = stored !== '0';
    var show = function (text) { if (status) status.textContent = text; };
    var label = function () { show(toggle.checked ? (document.hidden ? 'paused' : 'on') : 'off'); document.documentElement.toggleAttribute('data-live', toggle.checked); };
    label();
    toggle.addEventListener('change', function () {
      try { window.localStorage.setItem(LIVE_KEY, toggle.checked ? '1' : '0'); } catch (_) { /* ignore */ }
      label();
      if (toggle.checked) tick();
    });

    function refresh() {
      var target = '#' + body.id;
      return window.htmx.ajax('GET', location.pathname + location.search, { target: target, swap: 'innerHTML' }).then(function () {
        seen = Math.max(seen, bodyVersion());
        show('updated ' + new Date().toLocaleTimeString());
      });
    }

    function tick() {
      if (!toggle.checked || document.hidden || polling || busy > 0 || !window.htmx) return;
      polling = true;
      fetch(body.getAttribute('data-live-src'), { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j || typeof j.v !== 'number' || j.v <= seen) return;
          seen = j.v;
          return refresh();
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { polling = false; });
    }
    setInterval(tick, interval);
    document.addEventListener('visibilitychange', function () { label(); if (!document.hidden) tick(); });
  }

  // After a table-only sort or page turn the URL changed but the filter form did not.
  function syncHiddenFromUrl() {
    var params = new URLSearchParams(location.search);
    document.querySelectorAll('[data-sync-param]').forEach(function (el) {
      var v = params.get(el.getAttribute('data-sync-param'));
      if (v !== null) el.value = v;
    });
  }
  document.addEventListener('htmx:after:history:push', syncHiddenFromUrl);

  document.addEventListener('change', function (e) {
    var el = e.target;
    if (!el || !el.matches) return;
    if (el.matches('[data-custom-date]') && el.form) {
      var custom = el.form.querySelector('input[name=range][value=custom]');
      if (custom && !custom.checked) custom.checked = true;
    }
    if (el.matches('.segmented input[type=radio]')) {
      el.closest('.segmented').querySelectorAll('.seg').forEach(function (s) { s.classList.toggle('on', !!s.querySelector('input:checked')); });
    }
  }, true);

  // Find boxes above long option lists (API keys, teams): typing hides the options that do not
  // match. They are not filters themselves: their events stop here, before the form's htmx
  // trigger, and Enter does not submit.
  function narrow(box) {
    var list = document.getElementById(box.getAttribute('data-option-filter'));
    if (!list) return;
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (var i = 0; i < list.options.length; i++) {
      var o = list.options[i];
      var text = o.textContent.toLowerCase();
      o.hidden = !o.selected && !words.every(function (w) { return text.indexOf(w) !== -1; });
    }
  }
  ['input', 'change', 'search', 'keydown'].forEach(function (type) {
    document.addEventListener(type, function (e) {
      var el = e.target;
      if (!el || !el.matches || !el.matches('[data-option-filter]')) return;
      e.stopPropagation();
      if (type === 'keydown') { if (e.key === 'Enter') e.preventDefault(); return; }
      narrow(el);
    }, true);
  });

  document.addEventListener('DOMContentLoaded', function () {
    syncTimeZone();
    if (!document.querySelector('[data-analytics]')) return;
    if (window.htmx && window.htmx.config) window.htmx.config.history = 'reload';
    setupLive();
  });
})();
