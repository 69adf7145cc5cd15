import { startTestApp, TEST_SECRET_KEY, TestApp } from './support/app';
import { createOrg, createToken, createUser } from './support/factories';
import { signIn } from './support/session';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { createTestDatabase, dumpDatabase, freePort, registerSecret, TestDatabase } from './support/pg';
import { ServerProcess, startServer } from './support/processes';
import { ConfigStore, ConfigValidationError } from '../src/settings/config-store.service';

const KEY = 'sk-upstream-versioned-key-0123456789-WXYZ';

describe('config versions: validated, stored encrypted, active everywhere within a second', () => {
  let db: TestDatabase;
  let fake: FakeUpstream;
  let a: TestApp;
  let b: ServerProcess;
  let secret: string;
  const doc = (models: string[], apikey: string = KEY) => ({
    providers: { fake: { baseurl: fake.url, apikey, models, compatibility: { openai_chat: true } } },
    pricing: { [`fake/${models[0]}`]: { input: 1, output: 2 } },
    grants: [{ src: ['*'], models: ['**'] }],
  });
  const modelsOn = async (url: string) =>
    ((await (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).json()) as any).data.map((m: { id: string }) => m.id);
  const waitFor = async (url: string, want: string[]) => {
    const start = Date.now();
    for (;;) {
      const got = await modelsOn(url);
      if (JSON.stringify(got) === JSON.stringify(want)) return Date.now() - start;
      if (Date.now() - start > 5000) throw new Error(`models on ${url}: ${JSON.stringify(got)}, wanted ${JSON.stringify(want)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const waitForModel = async (url: string, id: string) => {
    const start = Date.now();
    while (!(await modelsOn(url)).includes(id)) {
      if (Date.now() - start > 5000) throw new Error(`${id} never became available on ${url}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  beforeAll(async () => {
    registerSecret(KEY);
    db = await createTestDatabase();
    fake = await startFakeUpstream();
    a = await startTestApp({ db });
    b = await startServer({ DATABASE_URL: db.url, SLUICE_SECRET_KEY: TEST_SECRET_KEY, PORT: String(await freePort()), LOG_LEVEL: 'debug' });
    await createOrg(a.app, 'cfg');
    secret = (await createToken(a.app, { orgSlug: 'cfg', name: 'cfg' })).secret;
  }, 90_000);
  afterAll(async () => {
    await b?.stop();
    await a?.close();
    await fake?.close();
    await db?.drop();
  });

  it('refuses an invalid document with the schema path of each problem', async () => {
    const store = a.app.get(ConfigStore);
    const err = await store.save('test', { providers: { bad: { baseurl: 'not a url', models: ['x'] } }, grants: [{ src: ['nobody'], models: ['**'] }] }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigValidationError);
    expect((err as ConfigValidationError).issues.map((i) => i.path)).toEqual(expect.arrayContaining(['providers.bad.baseurl', 'grants.0.src.0']));
    const envErr = await store.save('test', doc(['m1'], 'env:SLUICE_TEST_NOT_SET')).catch((e) => e);
    expect((envErr as ConfigValidationError).issues[0]).toMatchObject({ path: 'providers.fake.apikey', message: expect.stringContaining('SLUICE_TEST_NOT_SET is not set') });
    expect(await store.history()).toEqual([]);
  });

  it('activates a saved version on a second process within a second, with the key decrypted there', async () => {
    expect(await modelsOn(b.url)).toEqual([]);
    await a.app.get(ConfigStore).save('user:ops@cfg.test', doc(['m1']), 'first providers');
    const ms = await waitFor(b.url, ['fake/m1']);
    expect(ms).toBeLessThan(1000);
    fake.reset();
    const r = await fetch(`${b.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(r.status).toBe(200);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('keeps a write-only key when a save sends the mask, and restores version N exactly', async () => {
    const store = a.app.get(ConfigStore);
    const v1 = (await store.view()).meta!.version;
    const shown = await store.view();
    expect(shown.document.providers.fake.apikey).toBe('••••WXYZ');
    await store.save('user:ops@cfg.test', { ...shown.document, providers: { fake: { ...shown.document.providers.fake, models: ['m1', 'm2'] } } }, 'add m2');
    await waitFor(b.url, ['fake/m1', 'fake/m2']);
    fake.reset();
    await (await fetch(`${b.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm2', messages: [{ role: 'user', content: 'x' }] }) })).text();
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY}`);

    const restored = await store.restore('user:ops@cfg.test', v1);
    expect(restored.version).toBeGreaterThan(v1 + 1);
    await waitFor(b.url, ['fake/m1']);
    expect((await store.view(restored.version)).document).toEqual((await store.view(v1)).document);
    const history = await store.history();
    expect(history.map((h) => [h.version, h.active, h.comment])).toEqual([
      [restored.version, true, `restore of version ${v1}`],
      [v1 + 1, false, 'add m2'],
      [v1, false, 'first providers'],
    ]);
    const diff = await store.diff(v1, v1 + 1);
    expect(diff).toEqual([{ path: 'providers.fake.models', before: ['m1'], after: ['m1', 'm2'] }]);
  });

  it('shows on live pages of one process the requests another process served', async () => {
    await createUser(a.app, { email: 'watcher@cfg.test', org: 'cfg', role: 'admin' });
    const watcher = await signIn(a, 'watcher@cfg.test');
    const live = async () => (await watcher.get('/ui/live?org=all').expect(200)).body.v as number;
    // A token of its own, so no earlier request still in process b's writer can be counted here.
    const watched = (await createToken(a.app, { orgSlug: 'cfg', name: 'live-watch' })).secret;
    const served = async () => {
      const [head, ...rows] = (await watcher.get('/ui/usage/top.csv?org=cfg&range=1h').expect(200)).text.trim().split('\n');
      const col = head.split(',').findIndex((h) => /^"?requests"?$/i.test(h));
      const row = rows.find((l) => l.includes('live-watch'));
      return row ? Number(row.split(',')[col]) : 0;
    };
    await waitForModel(b.url, 'fake/m1');
    const before = await live();
    const countBefore = await served();
    const r = await fetch(`${b.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${watched}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'seen elsewhere' }] }),
    });
    expect(r.status).toBe(200);
    // Process b writes the row and NOTIFYs; process a's live version moves without a reload.
    const start = Date.now();
    while ((await live()) <= before) {
      if (Date.now() - start > 10_000) throw new Error('the live version on process a never moved');
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(countBefore).toBe(0);
    // The version may first move for an earlier request of process b; the row follows within a flush.
    let count = await served();
    while (count === 0 && Date.now() - start < 10_000) {
      await new Promise((res) => setTimeout(res, 100));
      count = await served();
    }
    expect(count).toBe(1);
  });

  it('never shows or stores the key in the clear', async () => {
    const store = a.app.get(ConfigStore);
    const everything = JSON.stringify([await store.history(), await store.view(), await store.view(1), await store.diff(1, 2)]);
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain(KEY.slice(0, -4));
    const dump = await dumpDatabase(db.url);
    expect(dump).toContain('enc:v1:');
    expect(dump).not.toContain(KEY);
  });

  it('is read-only when SLUICE_CONFIG names a file', async () => {
    const fileApp = await startTestApp({ gatewayConfig: doc(['m1']) });
    try {
      const err = await fileApp.app.get(ConfigStore).save('test', doc(['m9'])).catch((e) => e);
      expect(err.status).toBe(409);
      expect(err.message).toContain('SLUICE_CONFIG');
    } finally {
      await fileApp.close();
    }
  });
});
