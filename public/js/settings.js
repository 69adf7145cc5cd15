// The settings page only (loaded through the layout's pageScripts): rows added from <template>s,
// subject and pattern pickers, the JSON editor's line numbers and jumps to a problem's line, a
// warning before leaving an unsaved draft, and one packed field for big visual-editor forms (so a
// config with hundreds of models stays under the server's form-field limit). Matching models to
// patterns is never done here: the server's preview decides with the proxy's own code.
(function () {
  'use strict';
  var seq = 1000;

  function closest(el, sel) { return el && el.closest ? el.closest(sel) : null; }
  function process(el) { if (window.htmx && window.htmx.process) window.htmx.process(el); }
  function fromTemplate(id, replace) {
    var tpl = document.getElementById(id);
    if (!tpl) return null;
    var html = tpl.innerHTML;
    Object.keys(replace).forEach(function (k) { html = html.split(k).join(replace[k]); });
    var holder = document.createElement(tpl.content.firstElementChild && tpl.content.firstElementChild.tagName === 'TR' ? 'tbody' : 'div');
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }
  function markDirty(el) {
    var form = closest(el, '[data-draft-form]');
    if (form) form.setAttribute('data-dirty', '1');
  }

  // Rows ---------------------------------------------------------------------------------------
  document.addEventListener('click', function (e) {
    var add = closest(e.target, '[data-add-row]');
    if (add) {
      var kind = add.getAttribute('data-add-row');
      var n = String(seq++);
      var row = null;
      var into = null;
      if (kind === 'provider') {
        row = fromTemplate('tpl-provider', { __P__: n });
        into = document.querySelector('[data-rows="provider"]');
      } else if (kind === 'model') {
        var provider = closest(add, '[data-row="provider"]');
        row = fromTemplate('tpl-model', { __P__: provider.getAttribute('data-index'), __M__: n });
        into = provider.querySelector('[data-rows="model"]');
      } else {
        row = fromTemplate('tpl-' + kind, { __K__: n });
        into = document.querySelector('[data-rows="' + kind + '"]');
      }
      if (!row || !into) return;
      into.appendChild(row);
      process(row);
      markDirty(into);
      var first = row.querySelector('input:not([type=hidden]), select');
      if (first) first.focus();
      return;
    }
    var remove = closest(e.target, '[data-remove-row]');
    if (remove) {
      var target = closest(remove, '[data-row="' + remove.getAttribute('data-remove-row') + '"]');
      if (!target) return;
      if (remove.getAttribute('data-remove-row') === 'provider' && !window.confirm('Remove this provider and its models from the draft?')) return;
      markDirty(target);
      target.remove();
      return;
    }
    var chipX = closest(e.target, '[data-remove-chip]');
    if (chipX) {
      markDirty(chipX);
      closest(chipX, '.chip').remove();
      return;
    }
    var addChip = closest(e.target, '[data-add-chip]');
    if (addChip) { addChipFrom(addChip); return; }
    var go = closest(e.target, '[data-goto-line]');
    if (go) gotoLine(Number(go.getAttribute('data-goto-line')), Number(go.getAttribute('data-goto-column')) || 1);
  });

  // Pickers: a subject from the existing ones (or typed), a model pattern ------------------------
  function addChipFrom(button) {
    var col = closest(button, '.grant-col');
    var box = col && col.querySelector('[data-chips]');
    if (!box) return;
    var how = button.getAttribute('data-add-chip');
    var picker = closest(button, '.picker');
    var source = how === 'subject' ? picker.querySelector('[data-subject-value]') : picker.querySelector('input[type=text]');
    var value = source && source.value ? source.value.trim() : '';
    if (!value) { if (source) source.focus(); return; }
    var exists = Array.prototype.some.call(box.querySelectorAll('input[type=hidden]'), function (i) { return i.value === value; });
    if (!exists) {
      var chip = document.createElement('span');
      chip.className = 'chip';
      chip.setAttribute('data-testid', 'chip');
      var hidden = document.createElement('input');
      hidden.type = 'hidden';
      hidden.name = box.getAttribute('data-name');
      hidden.value = value;
      var text = document.createElement('span');
      text.className = 'mono';
      text.textContent = value;
      var x = document.createElement('button');
      x.type = 'button';
      x.className = 'chip-x';
      x.setAttribute('data-remove-chip', '');
      x.setAttribute('aria-label', 'Remove ' + value);
      x.textContent = '×';
      chip.appendChild(hidden);
      chip.appendChild(text);
      chip.appendChild(x);
      box.appendChild(chip);
      markDirty(box);
    }
    if (source && source.tagName === 'INPUT') source.value = '';
  }

  document.addEventListener('change', function (e) {
    var kind = e.target;
    if (!kind.matches || !kind.matches('[data-subject-kind]')) return;
    var value = closest(kind, '.picker').querySelector('[data-subject-value]');
    var tpl = document.getElementById('subject-options');
    value.innerHTML = '';
    if (!tpl) return;
    Array.prototype.forEach.call(tpl.content.querySelectorAll('option'), function (o) {
      if (o.getAttribute('data-kind') === kind.value) value.appendChild(o.cloneNode(true));
    });
    if (!value.options.length) {
      var none = document.createElement('option');
      none.value = '';
      none.textContent = kind.value ? 'none yet: type it below' : '—';
      value.appendChild(none);
    }
  });

  // Enter in a picker adds, it does not submit the whole form.
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Enter' || !e.target.matches || !e.target.matches('.picker input[type=text]')) return;
    e.preventDefault();
    var button = closest(e.target, '.picker').querySelector('[data-add-chip]');
    if (button) addChipFrom(button);
  });

  // The pattern and model-id suggestions follow what is typed in the provider and model fields.
  document.addEventListener('focusin', function (e) {
    var el = e.target;
    if (!el.matches || !el.matches('input[list="model-patterns"], input[list="model-ids"]')) return;
    var ids = [];
    var providers = [];
    document.querySelectorAll('[data-row="provider"]').forEach(function (p) {
      var name = p.querySelector('input[name$=".name"][data-testid="provider-name"]');
      if (!name || !name.value.trim()) return;
      providers.push(name.value.trim());
      p.querySelectorAll('[data-testid="model-name"]').forEach(function (m) {
        if (m.value.trim()) ids.push(name.value.trim() + '/' + m.value.trim());
      });
    });
    fill('model-ids', ids);
    fill('model-patterns', ['**'].concat(providers.map(function (p) { return p + '/**'; }), ids));
  });
  function fill(id, values) {
    var list = document.getElementById(id);
    if (!list) return;
    list.innerHTML = '';
    values.forEach(function (v) {
      var o = document.createElement('option');
      o.value = v;
      list.appendChild(o);
    });
  }

  // The provider card's title follows its name.
  document.addEventListener('input', function (e) {
    var el = e.target;
    // Page-only fields (pickers, the preview's subject) are not part of the draft.
    if (el.name && el.name.charAt(0) !== '_') markDirty(el);
    if (el.matches && el.matches('[data-testid="provider-name"]')) {
      var title = closest(el, '[data-row="provider"]').querySelector('.provider-title');
      if (title) title.textContent = el.value.trim() || 'New provider';
    }
    if (el.matches && el.matches('[data-json-editor]')) numberLines(el);
  });

  // Big forms travel as one field ------------------------------------------------------------------
  document.addEventListener('htmx:config:request', function (e) {
    var ctx = e.detail && e.detail.ctx;
    var form = ctx && ctx.request && ctx.request.form;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-pack')) return;
    var entries = [];
    ctx.request.body.forEach(function (v, k) { if (typeof v === 'string') entries.push([k, v]); });
    var packed = new FormData();
    packed.append('packed', JSON.stringify(entries));
    ctx.request.body = packed;
  });

  // A new request clears the last error; leaving an edited draft asks first.
  document.addEventListener('htmx:before:request', function (e) {
    var flash = document.getElementById('settings-flash');
    if (flash && closest(e.target, '[data-settings]')) flash.innerHTML = '';
  });
  document.addEventListener('click', function (e) {
    var link = closest(e.target, '[data-leave-draft]');
    if (!link) return;
    var dirty = document.querySelector('[data-draft-form][data-dirty]');
    if (dirty && !window.confirm('Leave without saving? Your changes in this editor are lost.')) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);
  window.addEventListener('beforeunload', function (e) {
    if (document.querySelector('[data-draft-form][data-dirty]')) e.preventDefault();
  });

  // The JSON editor ---------------------------------------------------------------------------------
  function numberLines(area) {
    var gutter = closest(area, '.json-editor').querySelector('[data-gutter]');
    var lines = area.value.split('\n').length;
    var bad = {};
    document.querySelectorAll('#json-issues [data-line]').forEach(function (li) { bad[li.getAttribute('data-line')] = true; });
    var out = [];
    for (var i = 1; i <= lines; i++) out.push(bad[i] ? '<span class="bad">' + i + '</span>' : String(i));
    gutter.innerHTML = out.join('\n');
    gutter.scrollTop = area.scrollTop;
  }
  function gotoLine(line, column) {
    var area = document.querySelector('[data-json-editor]');
    if (!area) return;
    var lines = area.value.split('\n');
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    var end = start + (lines[line - 1] || '').length;
    area.focus();
    area.setSelectionRange(Math.min(start + column - 1, end), end);
    var lineHeight = area.scrollHeight / Math.max(lines.length, 1);
    area.scrollTop = Math.max(0, (line - 4) * lineHeight);
  }
  function initEditors(root) {
    (root || document).querySelectorAll('[data-json-editor]:not([data-numbered])').forEach(function (area) {
      area.setAttribute('data-numbered', '1');
      area.addEventListener('scroll', function () {
        var gutter = closest(area, '.json-editor').querySelector('[data-gutter]');
        gutter.scrollTop = area.scrollTop;
      });
      numberLines(area);
    });
  }
  document.addEventListener('DOMContentLoaded', function () { initEditors(document); });
  document.addEventListener('htmx:after:swap', function () {
    initEditors(document);
    var area = document.querySelector('[data-json-editor]');
    if (area) numberLines(area);
    var first = document.querySelector('#json-issues [data-goto-line]');
    if (first && document.activeElement && document.activeElement.tagName !== 'TEXTAREA') first.focus();
  });
})();
