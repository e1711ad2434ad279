import type { Backend } from '../../core/backend.js';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardHarness, ORIGIN, type Harness } from './dashboard-harness.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { STATUS_KEY } from '../../connectors/whatsapp/link-words.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const audits = async (kind: string) => (await h!.g.store.dashboardQueries().auditPage({ kind, limit: 50 })).map((e) => ({ actor: e.actor, subject: e.subject, data: JSON.parse(e.data) as unknown }));

describe('dashboard pages', () => {
  it('governance: approves and denies pairing requests, revokes and allows identities, each audited as web:admin', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    await h.telegram('4242', 'hello', 'Grace');
    await h.telegram('5353', 'hello', 'Mallory');
    const pending = await h.g.store.accessStore().pendingPairings(Date.now());
    expect(pending.map((p) => p.identity).sort()).toEqual(['telegram:4242', 'telegram:5353']);
    const page = await (await h.get('/governance', { cookie: s.cookie })).text();
    for (const p of pending) expect(page).toContain(`aria-label="Approve ${p.code} from ${p.identity}"`);
    expect(page).toMatch(/telegram:100<\/td><td>allow<\/td><td>config<\/td>/);

    const grace = pending.find((p) => p.identity === 'telegram:4242')!;
    const mallory = pending.find((p) => p.identity === 'telegram:5353')!;
    expect((await h.act(s, '/governance/pairing', { code: grace.code, decision: 'approved' })).headers.get('location')).toBe('/governance');
    expect(await (await h.get('/governance', { cookie: s.cookie })).text()).toContain('telegram:4242 may now talk to the assistant.');
    await h.act(s, '/governance/pairing', { code: mallory.code, decision: 'denied' });
    await h.act(s, '/governance/pairing', { code: grace.code, decision: 'approved' });
    expect(await (await h.get('/governance', { cookie: s.cookie })).text()).toContain(`No pending pairing request ${grace.code} (decided).`);
    expect((await audits('pairing')).filter((a) => a.actor === 'web:admin')).toEqual([
      { actor: 'web:admin', subject: 'telegram:5353', data: { code: mallory.code } },
      { actor: 'web:admin', subject: 'telegram:4242', data: { code: grace.code } },
    ]);
    const before = h.g.sent.length;
    await h.telegram('4242', 'now?');
    expect(h.g.sent.slice(before).map((r) => r.text)).toEqual(['now?']);

    await h.act(s, '/governance/access', { identity: 'telegram:4242', action: 'revoke' });
    await h.act(s, '/governance/access', { identity: 'telegram:9999', action: 'revoke' });
    expect(await (await h.get('/governance', { cookie: s.cookie })).text()).toContain('<p role="alert" class="notice bad">telegram:9999 is not on the allowlist.</p>');
    await h.act(s, '/governance/access', { identity: 'telegram:777', action: 'allow' });
    await h.act(s, '/governance/access', { identity: 'not an identity', action: 'allow' });
    await h.act(s, '/governance/access', { identity: 'telegram:grace', action: 'allow' });
    expect(await (await h.get('/governance', { cookie: s.cookie })).text()).toContain('telegram:grace: a telegram identity must be a numeric user or chat id');
    // An API key's identity is the gateway's to authenticate: a revoke here would change nothing, so it is refused.
    await h.act(s, '/governance/access', { identity: 'api:k3y1d', action: 'revoke' });
    expect(await (await h.get('/governance', { cookie: s.cookie })).text()).toContain('api:k3y1d is authenticated by the gateway itself');
    const overrides = await h.g.store.accessStore().allOverrides();
    expect(overrides.map((o) => [o.identity, o.action, o.source])).toEqual([
      ['telegram:4242', 'revoke', 'dashboard'],
      ['telegram:5353', 'deny', 'pairing'],
      ['telegram:777', 'allow', 'dashboard'],
    ]);
    expect((await audits('access')).filter((a) => a.actor === 'web:admin').map((a) => a.subject)).toEqual(['telegram:777', 'telegram:4242']);
  });

  it('governance: tool approvals are approved and rejected by button as the CLI does, audited as web:admin; a second decision says why not', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const approvals = h.g.store.approvalStore();
    const now = Date.now();
    const base = { assistant: 'default', requester: 'telegram:100', eventId: 'e1', createdAt: now - 90_000, expiresAt: now + 300_000 };
    await approvals.create({ ...base, id: 'PUSH23', tool: 'Bash', summary: 'git push origin main' });
    await approvals.create({ ...base, id: 'RMRF45', tool: 'Bash', summary: 'rm -rf build' });
    await approvals.create({ ...base, id: 'CSRF89', tool: 'Write', summary: '' });
    await approvals.create({ ...base, id: 'XPRD67', tool: 'Bash', summary: 'make', createdAt: now - 600_000, expiresAt: now - 1_000 });
    // The owner reads all a command does: a value named like a secret stays, a token's shape is masked.
    await approvals.create({ ...base, id: 'HIDE88', tool: 'Bash', summary: `git push token=--receive-pack=/tmp/evil https://u:ghp_${'a1B2'.repeat(9)}@x` });
    const page = await (await h.get('/governance', { cookie: s.cookie })).text();
    expect(page).toContain('<code class="summary">git push token=--receive-pack=/tmp/evil https://u:[redacted]@x</code>');
    expect(page).toContain('<h2>Pending tool approvals</h2>');
    expect(page).toMatch(/<td class="mono">PUSH23<\/td><td class="tool"><span class="mono">Bash<\/span><code class="summary">git push origin main<\/code><\/td><td class="decision">.*?<\/td><td>default<\/td><td class="mono">telegram:100<\/td><td class="muted">1 min<\/td><td class="muted">\d{4}-[^<]+Z<\/td>/);
    for (const id of ['PUSH23', 'RMRF45']) {
      expect(page).toContain(`aria-label="Approve ${id} (Bash)"`);
      expect(page).toContain(`aria-label="Reject ${id} (Bash)"`);
    }
    expect(page).not.toContain('XPRD67');

    const decide = (id: string, decision: string) => h!.act(s, '/governance/approval', { id, decision });
    // A refusal is an alert, heard at once; a done thing a status.
    const notice = async () => /<p role="(?:status|alert)" class="notice (ok|bad)">([^<]*)<\/p>/.exec(await (await h!.get('/governance', { cookie: s.cookie })).text())?.slice(1);
    expect((await decide('PUSH23', 'approved')).headers.get('location')).toBe('/governance');
    expect(await notice()).toEqual(['ok', 'Tool call PUSH23 (Bash) approved: it runs now.']);
    expect((await decide('rmrf45', 'rejected')).status).toBe(303);
    expect(await notice()).toEqual(['ok', 'Tool call RMRF45 (Bash) rejected.']);
    expect((await approvals.get('PUSH23'))?.status).toBe('approved');
    expect((await approvals.get('RMRF45'))?.status).toBe('rejected');

    await decide('PUSH23', 'rejected');
    expect(await notice()).toEqual(['bad', 'Tool approval PUSH23 was already approved; a decision cannot be changed.']);
    expect((await approvals.get('PUSH23'))?.status).toBe('approved');
    await decide('XPRD67', 'approved');
    expect((await notice())?.[1]).toMatch(/^Tool approval XPRD67 expired at \d{4}-[^ ]+Z; it can no longer be decided\.$/);
    await decide('ZZZZZZ', 'approved');
    expect(await notice()).toEqual(['bad', 'No tool approval ZZZZZZ.']);
    expect((await decide('CSRF89', 'maybe')).status).toBe(400);
    expect((await h.post('/governance/approval', { id: 'CSRF89', decision: 'approved' }, { cookie: s.cookie })).status).toBe(403);
    expect((await approvals.get('CSRF89'))?.status).toBe('pending');

    const decided = (await h.g.store.dashboardQueries().auditPage({ kind: 'tool', limit: 10 })).map((e) => [e.kind, e.actor, e.subject]);
    expect(decided).toEqual([
      ['tool.rejected', 'web:admin', 'RMRF45'],
      ['tool.approved', 'web:admin', 'PUSH23'],
    ]);
    expect(await (await h.get('/governance', { cookie: s.cookie })).text()).not.toContain('aria-label="Approve PUSH23 (Bash)"');
  });

  it('conversations: lists channels by platform with their workspace, shows history, and moves a channel', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    await h.telegram('100', 'first words');
    const list = await (await h.get('/conversations', { cookie: s.cookie })).text();
    expect(list).toContain('<h2 id="p-telegram">telegram</h2>');
    const [channel] = await h.g.store.dashboardQueries().channels();
    expect(channel).toMatchObject({ platform: 'telegram', conversationId: '100', workspaceId: 'default', messages: 2 });
    const history = await (await h.get(`/conversations/${channel!.id}`, { cookie: s.cookie })).text();
    expect(history.match(/first words/g)).toHaveLength(2);

    expect((await h.act(s, `/conversations/${channel!.id}/workspace`, { workspace: '../etc' })).status).toBe(303);
    expect(await (await h.get(`/conversations/${channel!.id}`, { cookie: s.cookie })).text()).toContain('A workspace name is');
    expect((await h.act(s, `/conversations/${channel!.id}/workspace`, { workspace: 'research' })).status).toBe(303);
    expect(await (await h.get(`/conversations/${channel!.id}`, { cookie: s.cookie })).text()).toContain('Moved from default to research (workspace research is new).');
    expect(await h.g.store.dashboardQueries().channel(channel!.id)).toMatchObject({ workspaceId: 'research' });
    expect(await audits('channel.moved')).toEqual([{ actor: 'web:admin', subject: 'telegram:100', data: { from: 'default', to: 'research' } }]);
    // The workspace the move made is audited as made, as one made on the Workspaces page is.
    expect((await audits('workspace.created')).map((a) => a.subject)).toEqual(['research']);
    // The next message starts a fresh session in the new workspace.
    await h.telegram('100', 'after the move');
    const after = await h.g.store.dashboardQueries().channelHistory(channel!.id);
    expect(after.map((m) => m.workspaceId)).toEqual(['default', 'default', 'research', 'research']);
    expect((await h.act(s, '/conversations/999/workspace', { workspace: 'x' })).status).toBe(404);
    expect((await h.get('/conversations/999', { cookie: s.cookie })).status).toBe(404);
  });

  it('audit: filters by kind, pages through older entries, and verifies the chain', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    await h.g.store.appendAudit(Array.from({ length: 60 }, (_, i) => ({ kind: 'test.bulk', actor: 'test', subject: `n${i}` })));
    const first = await (await h.get('/audit?kind=test', { cookie: s.cookie })).text();
    expect(first.match(/<td class="mono">test\.bulk<\/td>/g)).toHaveLength(50);
    expect(first).not.toContain('vault');
    const older = /href="(\/audit\?kind=test&amp;before=\d+)">Older/.exec(first)?.[1]?.replace('&amp;', '&');
    expect(older).toBeDefined();
    const second = await (await h.get(older!, { cookie: s.cookie })).text();
    expect(second.match(/<td class="mono">test\.bulk<\/td>/g)).toHaveLength(10);
    expect(second).not.toContain('>Older<');

    const verify = await h.act(s, '/audit/verify', {});
    expect(verify.headers.get('location')).toBe('/audit');
    expect(await (await h.get('/audit', { cookie: s.cookie })).text()).toMatch(/role="status" class="notice ok">Audit log ok: \d+ entries, head [0-9a-f]{64}\./);
  });

  it("web chat: a backend's markdown shows rendered in its drafts too, not as asterisks until the reply", async () => {
    const markdown: Backend = {
      name: 'writer',
      format: 'markdown',
      async *stream() {
        yield { type: 'delta' as const, text: '**one** ' };
        await new Promise((resolve) => setTimeout(resolve, 300));
        yield { type: 'delta' as const, text: 'two' };
      },
    };
    h = await dashboardHarness({ backend: markdown });
    const s = await h.login();
    const r = await h.app.request('/chat/stream', {
      method: 'POST',
      body: JSON.stringify({ assistant: 'default', text: 'write' }),
      headers: { 'content-type': 'application/json', cookie: s.cookie, origin: ORIGIN, 'x-csrf-token': s.csrf },
    });
    const events = [...(await r.text()).matchAll(/event: (draft|reply)\ndata: (.*)\n/g)].map((m) => ({ event: m[1], ...(JSON.parse(m[2]!) as { text: string; html?: string }) }));
    expect(events.find((e) => e.event === 'draft')).toMatchObject({ text: '**one** ', html: expect.stringContaining('<strong>one</strong>') });
    expect(events.at(-1)).toMatchObject({ event: 'reply', html: expect.stringContaining('<strong>one</strong> two') });
  });

  it('web chat: the reply streams back over SSE as it is written, through the queue as web:admin; without script the form works too', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const r = await h.app.request('/chat/stream', {
      method: 'POST',
      body: JSON.stringify({ assistant: 'default', text: 'one two three four' }),
      headers: { 'content-type': 'application/json', cookie: s.cookie, origin: ORIGIN, 'x-csrf-token': s.csrf },
    });
    expect(r.headers.get('content-type')).toContain('text/event-stream');
    const body = await r.text();
    const events = [...body.matchAll(/event: (draft|reply)\ndata: (.*)\n/g)].map((m) => {
      const data = JSON.parse(m[2]!) as string | { text: string };
      return { event: m[1], text: typeof data === 'string' ? data : data.text };
    });
    // Drafts first (the echo backend's first piece shows at once), each a beginning of the reply; the reply last.
    expect(events.at(-1)).toEqual({ event: 'reply', text: 'one two three four' });
    const drafts = events.filter((e) => e.event === 'draft');
    expect(drafts.length).toBeGreaterThanOrEqual(1);
    expect(drafts.every((d) => 'one two three four'.startsWith(d.text.trim()))).toBe(true);
    expect(body.indexOf('event: done')).toBeGreaterThan(body.lastIndexOf('event: reply'));
    const received = (await h.g.store.dashboardQueries().auditPage({ kind: 'inbound.received', limit: 5 }))[0]!;
    expect(received.actor).toBe('web:admin');
    expect(JSON.parse(received.data)).toMatchObject({ conversation: 'web:admin:default' });

    expect((await h.act(s, '/chat', { assistant: 'default', text: 'no script here' })).headers.get('location')).toBe('/chat?assistant=default');
    const page = await (await h.get('/chat', { cookie: s.cookie })).text();
    expect(page.match(/no script here/g)).toHaveLength(2);
    expect((await h.act(s, '/chat', { assistant: 'nobody', text: 'x' })).status).toBe(400);
    expect((await h.act(s, '/chat', { assistant: 'default', text: '   ' })).status).toBe(400);
  });

  it('overview: a live view ends at once when the gateway shuts down, instead of holding the HTTP server open', async () => {
    const shutdown = new AbortController();
    h = await dashboardHarness({ stopping: shutdown.signal });
    const live = await h.liveSnapshots(await h.login());
    await live.next();
    shutdown.abort();
    // Ended, where it used to go on sending a snapshot a second until the server cut it.
    await expect(live.next()).rejects.toThrow('the live stream ended');
  });

  it('overview: shows process states and queues, and the live count rises when a message arrives through another connector', async () => {
    h = await dashboardHarness();
    const s = await h.login();
    const page = await (await h.get('/', { cookie: s.cookie })).text();
    expect(page).toMatch(/<td>connector:telegram<\/td><td data-col="state" class="state-restarting">restarting<\/td>/);
    for (const q of ['inbound', 'outbound:telegram', 'outbound:web', 'outbound:api']) expect(page).toContain(`<td>${q}</td>`);
    const events = await h.get('/events', { cookie: s.cookie, origin: ORIGIN });
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    const snapshots: Array<{ totals: { in: number; out: number }; series: { in: number[] } }> = [];
    let buffer = '';
    const next = async () => {
      for (;;) {
        const m = /event: snapshot\ndata: (.*)\n\n/.exec(buffer);
        if (m) {
          buffer = buffer.slice(m.index + m[0].length);
          snapshots.push(JSON.parse(m[1]!));
          return snapshots.at(-1)!;
        }
        buffer += (await reader.read()).value ?? '';
      }
    };
    const first = await next();
    await h.telegram('100', 'count me');
    let latest = first;
    for (let i = 0; i < 5 && latest.totals.in === first.totals.in; i++) latest = await next();
    await reader.cancel();
    expect(latest.totals.in).toBe(first.totals.in + 1);
    expect(latest.totals.out).toBeGreaterThanOrEqual(first.totals.out);
    expect(latest.series.in.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
  });
});

describe('overview: a WhatsApp process that is not linked', () => {
  it('says so beside its running state, and is shown as running (green) only once the link is open', async () => {
    h = await dashboardHarness({ states: { worker: 'running', 'connector:whatsapp': 'running' } });
    await h.g.store.setConnectorState('whatsapp', STATUS_KEY, { state: 'qr', at: '2026-11-26T12:00:00.000Z' });
    const s = await h.login();
    const waiting = await (await h.get('/', { cookie: s.cookie })).text();
    expect(waiting).toContain('<td data-col="state">running: not linked: waiting for the QR code to be scanned (Linking)</td>');
    await h.g.store.setConnectorState('whatsapp', STATUS_KEY, { state: 'open', at: '2026-11-26T12:01:00.000Z' });
    await sleep(600); // the overview's snapshot is computed at most twice a second
    const open = await (await h.get('/', { cookie: s.cookie })).text();
    expect(open).toContain('<td data-col="state" class="state-running">running</td>');
  });
});

describe('linking page', () => {
  it('draws the pending WhatsApp QR code as SVG, only behind the session, and says so when none is pending', async () => {
    h = await dashboardHarness();
    expect((await h.get('/linking')).status).not.toBe(200);
    const s = await h.login();
    expect(await (await h.get('/linking', { cookie: s.cookie })).text()).toContain('No link is pending');
    // A QR left in the clear (by an older build) is not drawn: only the sealed one is read.
    await h.g.store.setConnectorState('whatsapp', 'qr', { qr: '2@PlainPlainPlain,key1,key2,key3', at: '2026-11-26T11:00:00.000Z' });
    expect(await (await h.get('/linking', { cookie: s.cookie })).text()).toContain('No link is pending');
    await h.whatsappState.setConnectorState('whatsapp', 'qr', { qr: '2@AbCdEfGhIjKlMnOp,key1,key2,key3', at: '2026-11-26T12:00:00.000Z' });
    const page = await (await h.get('/linking', { cookie: s.cookie })).text();
    expect(page).toContain('<svg');
    expect(page).toContain('aria-label="WhatsApp linking code"');
    expect(page).toContain('http-equiv="refresh"');
    // The code is drawn, never printed as text.
    expect(page).not.toContain('AbCdEfGhIjKlMnOp');
  });
});
