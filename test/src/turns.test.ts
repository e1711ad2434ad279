import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../core/backend.js';
import { isOwnerDecision } from '../../core/session-worker.js';
import { parseConfig } from '../../core/config.js';
import { outboundQueue } from '../../core/event.js';
import { TurnClient } from '../../src/http/turns.js';
import { startTestGateway } from '../helpers/gateway.js';

let gw: Awaited<ReturnType<typeof startTestGateway>> | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

/** A backend still at work: it writes a piece, then nothing until it is stopped. */
const working = (stopped: Array<unknown>): Backend => ({
  name: 'agent',
  format: 'markdown',
  async *stream(request) {
    yield { type: 'delta' as const, text: 'thinking… ' };
    await new Promise((resolve) => request.signal?.addEventListener('abort', resolve, { once: true }));
    stopped.push(request.signal?.aborted);
  },
});

describe('a surface waiting for its turn', () => {
  it("waits as long as the deadline for the turn's assistant says, then gives the turn up and stops its backend", async () => {
    const stopped: unknown[] = [];
    const config = { access: { dm: 'open' } };
    gw = await startTestGateway({ config, backend: working(stopped) });
    const asked: Array<string | undefined> = [];
    const turns = new TurnClient(gw.queue, gw.store, 'web', isOwnerDecision(parseConfig(config)), async (assistant) => {
      asked.push(assistant);
      return 5_000;
    });
    turns.start();
    try {
      const drafts: string[] = [];
      const started = Date.now();
      const outcome = await turns.ask({ conversation: { id: 'admin:slow', kind: 'dm' }, sender: { id: 'admin', name: 'admin', isBot: false }, text: 'work on it', assistant: 'slow' }, (d) => drafts.push(d));
      expect(outcome).toEqual({ kind: 'timeout' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(5_000);
      expect(asked).toEqual(['slow']);
      // Still streaming when the deadline came: it was the deadline, not silence, that ended it.
      expect(drafts.join('')).toContain('thinking');
      const kinds = (await gw.store.auditTail(20)).map((e) => e.kind);
      expect(kinds).toContain('turn.abandoned');
      await expect.poll(() => stopped).toEqual([true]);
    } finally {
      await turns.close();
    }
  });

  it('puts a reply it gave up (a payload no reply could be) on record as its own dead letter', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'open' } } });
    const turns = new TurnClient(gw.queue, gw.store, 'web', isOwnerDecision(parseConfig({})));
    turns.start();
    try {
      await gw.queue.enqueue(outboundQueue({ platform: 'web', account: 'web' }), [{ id: 'stray', partition: 'p', payload: { not: 'a reply' } }]);
      await expect
        .poll(async () => (await gw!.store.auditTail(20)).filter((e) => e.kind === 'queue.dead_lettered').map((e) => [e.actor, e.subject]))
        .toEqual([['surface:web', 'stray']]);
    } finally {
      await turns.close();
    }
  });
});
