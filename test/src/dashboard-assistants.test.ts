import { afterEach, describe, expect, it } from 'vitest';
import { dashboardHarness, ORIGIN, XSS, XSS_ESCAPED, type Harness, type Login } from './dashboard-harness.js';

/** The harness's config plus a second backend, so fallbacks can be chosen. */
const BACKENDS = { backends: { echo: { type: 'echo' }, spare: { type: 'echo' } } };

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const audits = async (kind: string) =>
  (await h!.g.store.dashboardQueries().auditPage({ kind, limit: 50 })).map((e) => ({ actor: e.actor, subject: e.subject, data: JSON.parse(e.data) as Record<string, unknown> }));
const saved = async () => (await h!.g.store.settingsStore().savedAssistants()).map((a) => ({ name: a.name, ...('settings' in a ? a.settings : { error: a.error }) }));
const revision = () => h!.g.store.settingsStore().revision();

/** A complete, valid assistant form; override what a test is about. */
const form = (fields: Record<string, string> = {}) => ({
  systemPrompt: 'You write short answers.',
  backend: 'echo',
  fallbackBackend1: '',
  fallback: 'auto',
  model: '',
  inbound: 'rate-limit, access, group-gate, redact, guard',
  request: '',
  response: '',
  outbound: '',
  ...fields,
});

/** The markup of one form field: its label, control, hint and error, as rendered together. */
function field(html: string, name: string): string {
  const start = html.search(new RegExp(`<div class="field[^"]*"><label for="f-${name}">`));
  expect(start, `field ${name}`).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf('</div>', start));
}

/** The field is marked invalid, its control points at its error, and the error says `message`. */
function expectFieldError(html: string, name: string, message: string | RegExp): void {
  const f = field(html, name);
  expect(f, name).toMatch(new RegExp(`id="f-${name}"[^>]*aria-describedby="[^"]*f-${name}-error[^"]*"[^>]*aria-invalid="true"`));
  const error = new RegExp(`<p id="f-${name}-error" class="field-error">([^<]*)</p>`).exec(f)?.[1];
  expect(error, name).toMatch(message);
}

async function page(s: Login, path: string): Promise<string> {
  const r = await h!.get(path, { cookie: s.cookie });
  expect(r.status, path).toBe(200);
  return r.text();
}

describe('dashboard: assistants', () => {
  it('creates an assistant with labelled fields; it is listed, offered in web chat and audited as web:admin without its prompt', async () => {
    h = await dashboardHarness({ config: BACKENDS });
    const s = await h.login();
    const blank = await page(s, '/assistants/new');
    for (const name of ['name', 'systemPrompt', 'backend', 'fallbackBackend1', 'fallback', 'model', 'inbound', 'request', 'response', 'outbound']) {
      expect(blank, name).toMatch(new RegExp(`<label for="f-${name}">[^<]+</label>`));
    }
    expect(field(blank, 'backend')).toContain('<option value="spare">spare</option>');
    expect(field(blank, 'inbound')).toContain('value="rate-limit, access, group-gate, redact, guard"');

    const r = await h.act(s, '/assistants', form({
      name: 'writer',
      systemPrompt: 'Write well.\r\nAlways.',
      backend: 'spare',
      fallbackBackend1: 'echo',
      fallback: 'ask',
      model: ' big-model ',
      inbound: 'access,guard',
      request: '[{"plug": "budget", "dailyTokens": 1000}]',
    }));
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/assistants');
    expect(await saved()).toEqual([
      {
        name: 'writer',
        systemPrompt: 'Write well.\nAlways.',
        backend: ['spare', 'echo'],
        fallback: 'ask',
        model: 'big-model',
        pipelines: { inbound: ['access', 'guard'], request: [{ plug: 'budget', dailyTokens: 1000 }], response: [], outbound: [] },
      },
    ]);
    const list = await page(s, '/assistants');
    expect(list).toContain('Assistant writer created.');
    expect(list).toMatch(/<a href="\/assistants\/writer\/edit" class="mono">writer<\/a><\/td><td class="mono">spare → echo<\/td><td class="mono">big-model<\/td><td>made in dashboard/);
    // The edit page shows it again as saved; a pipeline with options comes back as JSON.
    const edit = await page(s, '/assistants/writer/edit');
    expect(field(edit, 'request')).toContain('value="[{&quot;plug&quot;:&quot;budget&quot;,&quot;dailyTokens&quot;:1000}]"');
    expect(field(edit, 'fallbackBackend1')).toContain('<option value="echo" selected="">echo</option>');
    expect(await page(s, '/chat?assistant=writer')).toContain('<option value="writer" selected="">writer</option>');

    const [created] = await audits('assistant.created');
    expect(created).toEqual({
      actor: 'web:admin',
      subject: 'writer',
      data: { backend: ['spare', 'echo'], model: 'big-model', fallback: 'ask', pipelines: { inbound: ['access', 'guard'], request: ['budget'], response: [], outbound: [] }, systemPromptChars: 19 },
    });
    expect(JSON.stringify(created)).not.toContain('Write well');
    // The name is taken now, by this assistant as by the config file's.
    for (const name of ['writer', 'default']) {
      const again = await h.act(s, '/assistants', form({ name }));
      expect(again.status).toBe(400);
      expectFieldError(await again.text(), 'name', `an assistant named &quot;${name}&quot; already exists`);
    }
  });

  it('edits an assistant from the config file: shown as edited in the dashboard until reset to the file; each step audited', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const before = await page(s, '/assistants/default/edit');
    expect(before).toContain('Defined in: <strong>config file</strong>');
    expect(before).not.toContain('Reset to the config file');
    expect(field(before, 'systemPrompt')).toContain('>You are a helpful assistant.</textarea>');

    const r = await h.act(s, '/assistants/default', form({ systemPrompt: 'You are the house assistant.' }));
    expect(r.headers.get('location')).toBe('/assistants/default/edit');
    const after = await page(s, '/assistants/default/edit');
    expect(after).toContain('Assistant default saved (systemPrompt).');
    expect(after).toContain('Defined in: <strong>config file, edited in dashboard</strong>');
    expect(after).toContain('Reset to the config file');
    expect(field(after, 'systemPrompt')).toContain('>You are the house assistant.</textarea>');
    expect(await page(s, '/assistants')).toContain('config file, edited in dashboard');

    // The same form again changes nothing and writes nothing.
    const rev = await revision();
    await h.act(s, '/assistants/default', form({ systemPrompt: 'You are the house assistant.' }));
    expect(await page(s, '/assistants/default/edit')).toContain('Nothing changed in default.');
    expect(await revision()).toBe(rev);

    expect((await h.act(s, '/assistants/default/reset', {})).headers.get('location')).toBe('/assistants/default/edit');
    expect(await saved()).toEqual([]);
    expect(await page(s, '/assistants/default/edit')).toContain('Assistant default reset to the config file.');
    expect(await audits('assistant')).toEqual([
      { actor: 'web:admin', subject: 'default', data: {} },
      { actor: 'web:admin', subject: 'default', data: expect.objectContaining({ changed: ['systemPrompt'], systemPromptChars: 28 }) },
    ]);
    expect((await h.act(s, '/assistants/nobody', form())).status).toBe(404);
    expect((await h.get('/assistants/nobody/edit', { cookie: s.cookie })).status).toBe(404);
  });

  it('deletes an assistant made in the dashboard, but not while a workspace answers with it, nor one from the config file', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    expect((await h.act(s, '/assistants', form({ name: 'helper' }))).status).toBe(303);
    expect(await page(s, '/assistants/helper/edit')).toContain('Delete assistant');
    expect(await page(s, '/assistants/default/edit')).not.toContain('Delete assistant');
    expect((await h.act(s, '/workspaces', { id: 'team', displayName: '', assistant: 'helper' })).status).toBe(303);

    // In use: refused, the workspace named, nothing deleted.
    expect((await h.act(s, '/assistants/helper/delete', {})).headers.get('location')).toBe('/assistants/helper/edit');
    expect(await page(s, '/assistants/helper/edit')).toContain('Assistant helper still answers in workspace team: choose another assistant there first.');
    expect((await saved()).map((a) => a.name)).toEqual(['helper']);

    expect((await h.act(s, '/workspaces/team', { displayName: '', assistant: '' })).status).toBe(303);
    const rev = await revision();
    expect((await h.act(s, '/assistants/helper/delete', {})).headers.get('location')).toBe('/assistants');
    expect(await page(s, '/assistants')).toContain('Assistant helper deleted.');
    expect(await saved()).toEqual([]);
    // Workers see the change from their next message.
    expect(await revision()).toBe(rev + 1);
    expect((await h.get('/assistants/helper/edit', { cookie: s.cookie })).status).toBe(404);
    expect((await h.act(s, '/assistants/helper/delete', {})).status).toBe(404);
    expect((await h.act(s, '/assistants/default/delete', {})).status).toBe(400);
    expect((await audits('assistant.deleted')).map((a) => [a.actor, a.subject])).toEqual([['web:admin', 'helper']]);
  });

  it('refuses an unknown backend, an unknown plug, bad plug options and an empty prompt: each next to its field, as typed, nothing saved, 400', async () => {
    h = await dashboardHarness({ config: BACKENDS });
    const s = await h.login();
    const rev = await revision();
    const r = await h.act(s, '/assistants', form({
      name: 'bad',
      systemPrompt: '   ',
      backend: 'http://evil.example/v1',
      fallbackBackend1: '/bin/sh',
      inbound: 'access, teleport',
      request: '[{"plug": "guard", "mode": "loud"}]',
      response: 'access; drop table',
      fallback: 'sometimes',
    }));
    expect(r.status).toBe(400);
    const html = await r.text();
    expect(html).toMatch(/<div role="alert" class="notice bad" id="form-errors"><p>Not saved: 7 problems/);
    expectFieldError(html, 'systemPrompt', 'a system prompt is required');
    expectFieldError(html, 'backend', /^unknown backend &quot;http:\/\/evil.example\/v1&quot;: choose one the config file defines \(echo, spare\)$/);
    expectFieldError(html, 'fallbackBackend1', /^unknown backend &quot;\/bin\/sh&quot;/);
    expectFieldError(html, 'inbound', /^entry 2: unknown plug &quot;teleport&quot; \(known: rate-limit, access/);
    expectFieldError(html, 'request', /^entry 1: plug &quot;guard&quot;: mode: /);
    expectFieldError(html, 'response', /^&quot;access;&quot; is not a plug name$/);
    expectFieldError(html, 'fallback', /auto|ask/);
    // What was typed comes back, the unknown choices included and marked.
    expect(field(html, 'name')).toContain('value="bad"');
    expect(field(html, 'systemPrompt')).toContain('>   </textarea>');
    expect(field(html, 'backend')).toContain('<option value="http://evil.example/v1" selected="">http://evil.example/v1 (unknown)</option>');
    expect(field(html, 'inbound')).toContain('value="access, teleport"');
    expect(field(html, 'request')).toContain('value="[{&quot;plug&quot;: &quot;guard&quot;, &quot;mode&quot;: &quot;loud&quot;}]"');
    // Valid fields carry no error.
    expect(field(html, 'model')).not.toContain('aria-invalid');
    expect(await saved()).toEqual([]);
    expect(await revision()).toBe(rev);
    expect(await audits('assistant')).toEqual([]);

    // One problem alone is enough to save nothing, on an edit too.
    const edit = await h.act(s, '/assistants/default', form({ backend: 'spare', fallbackBackend1: 'spare' }));
    expect(edit.status).toBe(400);
    expectFieldError(await edit.text(), 'fallbackBackend1', '&quot;spare&quot; is already chosen above');
    const name = await h.act(s, '/assistants', form({ name: '../x' }));
    expectFieldError(await name.text(), 'name', /^1–64 letters/);
    expect(await saved()).toEqual([]);
    expect(await revision()).toBe(rev);
  });

  it('escapes a system prompt with markup on the edit page and when a refused form comes back', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const refused = await h.act(s, '/assistants', form({ name: 'x1', systemPrompt: XSS, backend: `<script>alert(1)</script>` }));
    const html = await refused.text();
    expect(html).toContain(XSS_ESCAPED);
    expect(html).not.toContain('<script>alert');
    expect((await h.act(s, '/assistants', form({ name: 'x1', systemPrompt: XSS }))).status).toBe(303);
    const edit = await page(s, '/assistants/x1/edit');
    expect(field(edit, 'systemPrompt')).toContain(`>${XSS_ESCAPED}</textarea>`);
    expect(edit).not.toMatch(/<script>alert|<img src=x/);
  });

  it('refuses a POST without the CSRF token, from another origin, or without a session: nothing saved', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const valid = form({ name: 'sneaky' });
    expect((await h.post('/assistants', valid, { cookie: s.cookie })).status).toBe(403);
    expect((await h.post('/assistants', { ...valid, _csrf: s.csrf }, { cookie: s.cookie, origin: 'https://evil.example' })).status).toBe(403);
    expect((await h.post('/assistants', { ...valid, _csrf: s.csrf })).status).toBe(401);
    expect((await h.post('/assistants/default', { ...form({ systemPrompt: 'pwned' }) }, { cookie: s.cookie })).status).toBe(403);
    expect((await h.post('/workspaces', { id: 'sneaky' }, { cookie: s.cookie, origin: ORIGIN })).status).toBe(403);
    expect(await saved()).toEqual([]);
    expect((await h.g.store.settingsStore().workspaces()).map((w) => w.id)).toEqual(['default']);
  });
});

describe('dashboard: workspaces', () => {
  it('creates and edits workspaces with a display name and default assistant; bad input inline and unsaved; audited', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const blank = await page(s, '/workspaces');
    expect(blank).toMatch(/<label for="f-id">Workspace id<\/label>/);
    expect(field(blank, 'assistant')).toContain('<option value="default">default</option>');

    expect((await h.act(s, '/workspaces', { id: 'research', displayName: 'Research <team>', assistant: 'default' })).status).toBe(303);
    const list = await page(s, '/workspaces');
    expect(list).toContain('Workspace research created.');
    expect(list).toContain('<td>Research &lt;team&gt;</td><td class="mono">default</td>');

    const bad = await h.act(s, '/workspaces', { id: '../etc', displayName: 'x\u0007', assistant: 'ghost' });
    expect(bad.status).toBe(400);
    const html = await bad.text();
    expectFieldError(html, 'id', /^1–64 letters/);
    expectFieldError(html, 'displayName', 'no control characters');
    expectFieldError(html, 'assistant', 'unknown assistant &quot;ghost&quot;');
    expect(field(html, 'id')).toContain('value="../etc"');
    const taken = await h.act(s, '/workspaces', { id: 'research', displayName: '', assistant: '' });
    expectFieldError(await taken.text(), 'id', 'a workspace &quot;research&quot; already exists');

    expect((await h.act(s, '/workspaces/research', { displayName: 'Research', assistant: '' })).headers.get('location')).toBe('/workspaces/research/edit');
    expect(await h.g.store.settingsStore().workspace('research')).toMatchObject({ displayName: 'Research', assistant: null, channels: 0 });
    expect((await h.act(s, '/workspaces/default', { displayName: '', assistant: 'nobody' })).status).toBe(400);
    expect(await h.g.store.settingsStore().workspace('default')).toMatchObject({ displayName: null, assistant: null });
    expect((await h.act(s, '/workspaces/nowhere', { displayName: '', assistant: '' })).status).toBe(404);
    expect(await audits('workspace')).toEqual([
      { actor: 'web:admin', subject: 'research', data: { changed: ['displayName', 'assistant'], displayName: 'Research', assistant: null } },
      { actor: 'web:admin', subject: 'research', data: { displayName: 'Research <team>', assistant: 'default' } },
    ]);
  });
});
