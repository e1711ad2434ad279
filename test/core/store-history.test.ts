import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseChannelEvent } from '../../core/event.js';
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
