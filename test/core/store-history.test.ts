import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDb, readMigrations } from '../../core/db.js';
import { parseChannelEvent } from '../../core/event.js';
import type { BudgetView } from '../../core/store.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { makeEvent, tempDir } from '../helpers/tmp.js';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function open(file: string): Promise<SqliteStore> {
  const store = new SqliteStore(file);
  await store.migrate();
  cleanup.push(() => store.close());
  return store;
}

describe('session history', () => {
  it('reads the latest turns, whichever process wrote them, however often it is read', async () => {
    const tmp = tempDir('mc-history-');
    cleanup.push(() => tmp.remove());
    const file = join(tmp.dir, 'monkeyclaw.db');
    // Two workers on one file; `a` reads on every turn, as a worker does.
    const [a, b] = [await open(file), await open(file)];
    const event = parseChannelEvent(makeEvent({ conversation: { id: 'c1', kind: 'dm' } }));
    const { session } = await a.ensureSession(event);
    const texts: string[] = [];
    for (let turn = 0; turn < 12; turn++) {
      const writer = turn % 3 === 2 ? b : a;
      const history = [{ role: 'user' as const, text: `q${turn}` }, { role: 'assistant' as const, text: `a${turn}` }];
      await writer.turnCommit({ dedupeKey: `k${turn}`, eventId: `e${turn}`, sessionId: session.id, history, audit: [], replies: [] }).commit();
      texts.push(`q${turn}`, `a${turn}`);
      expect((await a.history(session.id, 5)).map((h) => h.text)).toEqual(texts.slice(-5));
    }
    // A wider window than the one held reads the database again; a fresh reader agrees.
    expect((await a.history(session.id, 9)).map((h) => h.text)).toEqual(texts.slice(-9));
    const fresh = await open(file);
    expect(await fresh.history(session.id, 9)).toEqual(await a.history(session.id, 9));
  });
});

describe('turns given up', () => {
  it('a given-up event keeps no turn, but the audit keeps what its late turn did', async () => {
    const tmp = tempDir('mc-abandon-');
    cleanup.push(() => tmp.remove());
    const store = await open(join(tmp.dir, 'monkeyclaw.db'));
    const event = parseChannelEvent(makeEvent({ conversation: { id: 'c1', kind: 'dm' } }));
    const { session } = await store.ensureSession(event);
    const gaveUp = { kind: 'turn.abandoned', actor: 'surface:api', subject: 'e1', data: { why: 'stopped' } };
    expect(await store.abandonTurn('k1', 'e1', [gaveUp])).toBe(true);
    expect(await store.handledTurn('k1')).toEqual([]);
    // The worker's turn for it ends after that: its replies and history are dropped, its backend call is audited.
    const reply = { queue: 'outbound:api', partition: 'p', reply: { text: 'late' } } as never;
    const late = { kind: 'backend.call', actor: 'worker', subject: 'e1', data: { backend: 'echo' } };
    const usage = { workspaceId: 'default', inputTokens: 120, outputTokens: 30, costUsd: 0.01 };
    const turn = { dedupeKey: 'k1', eventId: 'e1', sessionId: session.id, history: [{ role: 'user' as const, text: 'hi' }], audit: [late], replies: [reply], usage };
    expect(await store.turnCommit(turn).commit()).toEqual([]);
    expect(await store.history(session.id, 10)).toEqual([]);
    // What the late backend call cost counts against the budget all the same.
    const today = new Date().toISOString().slice(0, 10);
    expect(await store.usageSince('default', today)).toEqual({ tokens: 150, costUsd: 0.01 });
    expect((await store.auditTail(10)).map((e) => e.kind)).toEqual(['turn.abandoned', 'backend.call', 'turn.discarded']);
    // A turn that committed first wins over a later give-up.
    await store.turnCommit({ ...turn, dedupeKey: 'k2', eventId: 'e2', audit: [], usage: undefined }).commit();
    expect(await store.abandonTurn('k2', 'e2', [gaveUp])).toBe(false);
    expect(await store.handledTurn('k2')).toEqual([reply]);
  });

  it("expires the tool calls a given-up turn waited on: an owner is never told they approved what will not run", async () => {
    const tmp = tempDir('mc-abandon-');
    cleanup.push(() => tmp.remove());
    const store = await open(join(tmp.dir, 'monkeyclaw.db'));
    const approvals = store.approvalStore();
    const t = Date.now();
    const ask = (id: string, eventId: string) => approvals.create({ id, assistant: 'default', tool: 'Bash', summary: 'git push', requester: 'api:k', eventId, createdAt: t, expiresAt: t + 600_000 });
    await ask('AAAAAA', 'e1');
    await ask('BBBBBB', 'e2');
    expect(await store.abandonTurn('k1', 'e1', [{ kind: 'turn.abandoned', actor: 'surface:api', subject: 'e1', data: { why: 'stopped' } }])).toBe(true);
    expect(await approvals.decide('AAAAAA', 'approved', 'cli', Date.now(), [])).toBe(false);
    expect((await approvals.get('AAAAAA'))?.status).toBe('expired');
    // Another turn's request stands.
    expect((await approvals.pending(Date.now())).map((a) => a.id)).toEqual(['BBBBBB']);
  });
});

describe('budget holds', () => {
  it('hold an average of the turns counted since migration 018, not of a day that was half spent before it', async () => {
    const tmp = tempDir('mc-budget-');
    cleanup.push(() => tmp.remove());
    const file = join(tmp.dir, 'monkeyclaw.db');
    const today = new Date().toISOString().slice(0, 10);
    // Before the upgrade: 90 turns of 100 tokens today, with no turns counted.
    const old = openDb(file);
    migrate(old, readMigrations().filter((m) => m.version <= 17));
    old.prepare('INSERT INTO usage_daily (workspace_id, day, input_tokens, output_tokens, cost_usd) VALUES (?, ?, ?, ?, ?)').run('default', today, 9000, 0, 0.9);
    old.close();
    const store = new SqliteStore(file);
    await store.migrate();
    cleanup.push(() => store.close());
    const { session } = await store.ensureSession(parseChannelEvent(makeEvent({ conversation: { id: 'c1', kind: 'dm' } })));
    const usage = { workspaceId: 'default', inputTokens: 60, outputTokens: 40, costUsd: 0.01 };
    await store.turnCommit({ dedupeKey: 'k1', eventId: 'e1', sessionId: session.id, history: [], audit: [], replies: [], usage }).commit();
    const hold = (eventId: string) => ({ eventId, workspaceId: 'default', day: today, month: `${today.slice(0, 7)}-01`, expiresAt: new Date(Date.now() + 60_000).toISOString() });
    const views: BudgetView[] = [];
    await store.holdBudget(hold('e2'), (v) => void views.push(v));
    await store.holdBudget(hold('e3'), (v) => void views.push(v));
    expect(views[0]).toMatchObject({ day: { tokens: 9100 }, perTurn: { tokens: 100 }, held: { tokens: 0 } });
    // A turn running beside e2 sees e2's hold: one average turn.
    expect(views[1]!.held.tokens).toBe(100);
    // Redelivered after a crash and refused this time, e2 lets go of the hold its first attempt left.
    expect(await store.holdBudget(hold('e2'), () => 'daily-budget')).toBe('daily-budget');
    await store.holdBudget(hold('e4'), (v) => void views.push(v));
    expect(views[2]!.held.tokens).toBe(100); // e3's alone
  });
});
