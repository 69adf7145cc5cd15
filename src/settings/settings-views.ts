import { Injectable } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { COMPAT_FLAGS, EditorModel, Fields, one } from './settings-form';
import { SubjectChoices } from './settings.repository';
import { Preview, SettingsService } from './settings.service';

export interface SubjectGroup {
  kind: string;
  label: string;
  options: { value: string; label: string }[];
}

/** Grant subjects that exist, grouped by kind, for the pickers (values are grant subjects). */
export function subjectGroups(c: SubjectChoices): SubjectGroup[] {
  const people = new Map<string, string>();
  for (const u of c.users) if (!people.has(u.email)) people.set(u.email, u.name ? `${u.email} (${u.name})` : u.email);
  return [
    { kind: '*', label: 'Everyone', options: [{ value: '*', label: 'everyone with a token (*)' }] },
    { kind: 'org', label: 'Organizations', options: c.orgs.map((o) => ({ value: `org:${o.slug}`, label: o.name && o.name !== o.slug ? `${o.slug} (${o.name})` : o.slug })) },
    { kind: 'team', label: 'Teams', options: c.teams.map((t) => ({ value: `team:${t.org}/${t.slug}`, label: `${t.org} / ${t.slug}` })) },
    { kind: 'user', label: 'People', options: [...people].map(([email, label]) => ({ value: `user:${email}`, label })) },
    { kind: 'service-account', label: 'Service accounts', options: c.serviceAccounts.map((s) => ({ value: `service-account:${s.org}/${s.name}`, label: `${s.org} / ${s.name}` })) },
    { kind: 'token', label: 'Tokens', options: c.tokens.map((t) => ({ value: `token:${t.id}`, label: `${t.name} — ${t.owner ?? 'no owner'} (${t.org})` })) },
  ];
}

const show = (v: unknown) => (v === undefined ? '—' : JSON.stringify(v));

/** Template data for the settings pages, built from SettingsService answers. */
@Injectable()
export class SettingsViews {
  constructor(private readonly settings: SettingsService) {}

  async editor(a: Actor, o: { tab: 'visual' | 'json'; saved?: number }) {
    const e = await this.settings.editor(a);
    return this.page(e.model, e.text, e.choices, { tab: o.tab, saved: o.saved, meta: e.meta, baseVersion: e.meta ? String(e.meta.version) : 'none' });
  }

  async converted(a: Actor, f: Fields, tab: 'visual' | 'json') {
    const [c, choices, active] = await Promise.all([this.settings.convert(a, f), this.settings.choices(a), this.settings.active(a)]);
    return this.page(c.model, c.text, choices, { tab, meta: active.version, baseVersion: one(f, 'baseVersion') || 'none', droppedKeys: c.droppedKeys, draft: true });
  }

  private page(model: EditorModel, text: string, choices: SubjectChoices, o: Record<string, unknown> & { tab: 'visual' | 'json' }) {
    const readOnly = this.settings.source === 'file';
    return {
      title: 'Settings',
      nav: 'settings',
      ...o,
      isJson: o.tab === 'json',
      readOnly,
      configFile: this.settings.configFile,
      model,
      text,
      lineCount: text.split('\n').length,
      compatFlags: COMPAT_FLAGS,
      subjectGroups: subjectGroups(choices),
      patternHints: ['**', ...model.providers.map((p) => `${p.name}/**`), ...model.modelIds],
      blank: {
        provider: { i: '__P__', name: '', baseurl: '', authorization: 'bearer', keyHint: null, envRef: null, compat: COMPAT_FLAGS.map((c) => ({ ...c, on: c.flag === 'openai_chat' })), models: [], extra: '' },
        model: { p: '__P__', j: '__M__', name: '', input: '', output: '', cached_input: '', cache_write: '', pextra: '' },
        grant: { k: '__K__', src: [], models: [], extra: '' },
        alias: { k: '__K__', name: '', target: '' },
        price: { k: '__K__', key: '', input: '', output: '', cached_input: '', cache_write: '', extra: '' },
      },
    };
  }

  async preview(a: Actor, f: Fields) {
    const p: Preview = await this.settings.preview(a, f);
    return {
      ...p,
      rows: p.rows.map((r) => ({ ...r, count: r.models.length, models: r.models.map((id) => ({ id, via: r.via[id] ?? [] })) })),
      overview: !p.subject,
    };
  }

  async history(a: Actor, q: Record<string, unknown>) {
    const versions = await this.settings.history(a);
    const active = versions.find((v) => v.active)?.version;
    return {
      title: 'Settings · history',
      nav: 'settings',
      versions: versions.map((v, i) => ({ ...v, fromChecked: i === 1, toChecked: i === 0 })),
      active,
      readOnly: this.settings.source === 'file',
      configFile: this.settings.configFile,
      restored: typeof q.restored === 'string' ? q.restored : undefined,
    };
  }

  async diff(a: Actor, from: unknown, to: unknown) {
    const d = await this.settings.diff(a, from, to);
    return {
      title: `Settings · version ${d.from} → ${d.to}`,
      nav: 'settings',
      ...d,
      changes: d.changes.map((c) => ({ path: c.path, before: show(c.before), after: show(c.after), added: c.before === undefined, removed: c.after === undefined })),
    };
  }

  async version(a: Actor, n: unknown, restored?: string) {
    const v = await this.settings.version(a, n);
    return {
      title: `Settings · version ${v.meta?.version}`,
      nav: 'settings',
      meta: v.meta,
      text: v.text,
      canRestore: this.settings.source === 'database' && !!v.meta && !v.meta.active,
      restored: restored && /^\d+$/.test(restored) ? restored : undefined,
    };
  }
}
