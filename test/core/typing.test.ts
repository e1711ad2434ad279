import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { SqliteStore } from '../../core/sqlite/store.js';
import { silentTurn, TypingIndicator } from '../../core/typing.js';
import { tempDir } from '../helpers/tmp.js';

type Place = { id: string; threadId?: string };

describe('typing indicator', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function indicator(extra: { hide?: boolean; fail?: boolean } = {}) {
    const calls: string[] = [];
    const errors: unknown[] = [];
    const record = (what: string) => async (p: Place) => {
      calls.push(`${what} ${p.id}/${p.threadId ?? ''}`);
      if (extra.fail) throw new Error('403 blocked');
    };
    const typing = new TypingIndicator<Place>({
      show: record('show'),
      ...(extra.hide ? { hide: record('hide') } : {}),
      keyOf: (p) => `${p.id}/${p.threadId ?? ''}`,
      refreshMs: 40,
      maxMs: 300,
      onError: (e) => errors.push(e),
    });
    const count = (what: string) => calls.filter((c) => c === what).length;
    return { typing, calls, errors, count };
  }

  it('shows at once, refreshes while the backend works, stops on the reply and gives up after the maximum', async () => {
    const { typing, count } = indicator();
    typing.start({ id: '1' });
    typing.start({ id: '2', threadId: '7' });
    expect(count('show 1/')).toBe(1);
    expect(count('show 2/7')).toBe(1);
    await vi.advanceTimersByTimeAsync(130);
    expect(count('show 1/')).toBe(4);
    typing.stop({ id: '1' });
    expect(typing.isActive({ id: '1' })).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(count('show 1/')).toBe(4);
    // The topic was never answered: given up after 300 ms, not refreshed for ever.
    expect(count('show 2/7')).toBe(1 + Math.floor(300 / 40)); // at once, then every 40 ms until 300 ms
    expect(typing.isActive({ id: '2', threadId: '7' })).toBe(false);
  });

  it('a second message for the same place extends the indicator without another request', async () => {
    const { typing, count } = indicator();
    typing.start({ id: '1' });
    await vi.advanceTimersByTimeAsync(200);
    typing.start({ id: '1' });
    expect(count('show 1/')).toBe(6);
    await vi.advanceTimersByTimeAsync(250);
    // Past the first start's 300 ms, still typing for the second message.
    expect(typing.isActive({ id: '1' })).toBe(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(typing.isActive({ id: '1' })).toBe(false);
  });

  it('hides where the platform can, once, when the reply goes out', () => {
    const { typing, calls } = indicator({ hide: true });
    typing.start({ id: '1' });
    typing.stop({ id: '1' });
    typing.stop({ id: '1' });
    expect(calls).toEqual(['show 1/', 'hide 1/']);
  });

  it('starts typing for a stored message only if its reply has not begun meanwhile', () => {
    const { typing, count } = indicator();
    typing.expect({ id: 'fast' });
    typing.expect({ id: 'slow' });
    typing.expect({ id: 'refused' });
    // The fast reply went out while its message was being stored.
    typing.stop({ id: 'fast' });
    typing.startExpected({ id: 'fast' }, true);
    typing.startExpected({ id: 'slow' }, true);
    typing.startExpected({ id: 'refused' }, false);
    expect([count('show fast/'), count('show slow/'), count('show refused/')]).toEqual([0, 1, 0]);
    // Without a fresh expect, a later startExpected does nothing.
    typing.startExpected({ id: 'refused' }, true);
    expect(count('show refused/')).toBe(0);
  });

  it('settles each stored batch against its own mark: an earlier one for the same place never takes a later one\'s', () => {
    const { typing, count } = indicator();
    // An unaddressed message, then a mention, in one group; the second is stored before the first is settled.
    typing.expect({ id: 'group' });
    typing.expect({ id: 'group' });
    typing.startExpected({ id: 'group' }, false);
    typing.startExpected({ id: 'group' }, true);
    expect(count('show group/')).toBe(1);
  });

  it('a failing request is reported, never thrown, and the indicator keeps trying', async () => {
    const { typing, errors, count } = indicator({ fail: true });
    expect(() => typing.start({ id: '1' })).not.toThrow();
    await vi.advanceTimersByTimeAsync(100);
    expect(count('show 1/')).toBe(3);
    expect(errors).toHaveLength(3);
    expect((errors[0] as Error).message).toBe('403 blocked');
  });

  it('stops once every message it was shown for ended in silence, and keeps on while an answer is coming', async () => {
    const ended = new Map<string, 'silent' | 'answered'>();
    const calls: string[] = [];
    const typing = new TypingIndicator<string>({
      show: async (id) => void calls.push(id),
      silent: async (_id, turn) => ended.get(turn) === 'silent',
      refreshMs: 40,
      maxMs: 10_000,
    });
    typing.start('quiet', ['q1']);
    typing.start('quiet', ['q2']);
    typing.start('busy', ['b1']);
    ended.set('q1', 'silent');
    await vi.advanceTimersByTimeAsync(100);
    // q2's turn has not ended yet: still typing.
    expect(typing.isActive('quiet')).toBe(true);
    ended.set('q2', 'silent');
    ended.set('b1', 'answered');
    await vi.advanceTimersByTimeAsync(100);
    expect(typing.isActive('quiet')).toBe(false);
    // An answer is on its way: its send stops the indicator, not the refresh.
    expect(typing.isActive('busy')).toBe(true);
    const before = calls.filter((c) => c === 'quiet').length;
    await vi.advanceTimersByTimeAsync(200);
    expect(calls.filter((c) => c === 'quiet').length).toBe(before);
    typing.stopAll();
  });

  it('join adds messages to a showing indicator and starts none', async () => {
    const ended = new Set<string>();
    const calls: string[] = [];
    const typing = new TypingIndicator<string>({ show: async (id) => void calls.push(id), silent: async (_id, turn) => ended.has(turn), refreshMs: 40, maxMs: 10_000 });
    typing.join('idle', ['i1']);
    expect(typing.isActive('idle')).toBe(false);
    typing.start('backlog', ['b1']);
    typing.join('backlog', ['b2']);
    ended.add('b1');
    await vi.advanceTimersByTimeAsync(100);
    // b2 is still being answered.
    expect(typing.isActive('backlog')).toBe(true);
    ended.add('b2');
    await vi.advanceTimersByTimeAsync(100);
    expect(typing.isActive('backlog')).toBe(false);
    expect(calls.filter((c) => c === 'idle')).toEqual([]);
  });

  it('stopAll stops every refresh quietly', async () => {
    const { typing, calls } = indicator({ hide: true });
    typing.start({ id: '1' });
    typing.start({ id: '2' });
    typing.stopAll();
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toEqual(['show 1/', 'show 2/']);
  });
});

describe('silentTurn', () => {
  it('is silent only for a committed turn with no reply to that conversation', async () => {
    const tmp = tempDir('mc-typing-');
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    try {
      await store.migrate();
      const silent = silentTurn(store);
      expect(await silent('c1', 'pending')).toBe(false);
      await store.abandonTurn('refused', 'e1', []);
      expect(await silent('c1', 'refused')).toBe(true);
      const toOwner = { queue: 'outbound:telegram', partition: 'p', reply: { address: { conversation: { id: 'owner' } } } } as never;
      const toSender = { queue: 'outbound:telegram', partition: 'p', reply: { address: { conversation: { id: 'c1' } } } } as never;
      await store.turnCommit({ dedupeKey: 'notified', eventId: 'e2', history: [], audit: [], replies: [toOwner] }).commit();
      await store.turnCommit({ dedupeKey: 'answered', eventId: 'e3', history: [], audit: [], replies: [toSender] }).commit();
      // A message to the owner (a pairing notice) is no answer to the sender.
      expect(await silent('c1', 'notified')).toBe(true);
      expect(await silent('c1', 'answered')).toBe(false);
    } finally {
      await store.close();
      tmp.remove();
    }
  });
});
