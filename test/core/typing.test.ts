import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TypingIndicator } from '../../core/typing.js';

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

  it('a failing request is reported, never thrown, and the indicator keeps trying', async () => {
    const { typing, errors, count } = indicator({ fail: true });
    expect(() => typing.start({ id: '1' })).not.toThrow();
    await vi.advanceTimersByTimeAsync(100);
    expect(count('show 1/')).toBe(3);
    expect(errors).toHaveLength(3);
    expect((errors[0] as Error).message).toBe('403 blocked');
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
