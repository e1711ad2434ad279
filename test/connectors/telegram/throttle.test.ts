import { describe, expect, it } from 'vitest';
import { throttleMessages } from '../../../connectors/telegram/index.js';

describe('telegram throttle', () => {
  it('never lets more than 30 messages start within any second, across all chats', async () => {
    const throttle = throttleMessages(undefined);
    const starts: number[] = [];
    const prev = (async () => {
      starts.push(performance.now());
      return { ok: true, result: true };
    }) as unknown as Parameters<typeof throttle>[0];
    // 70 chats, one message each: only the global limit applies (each chat's own 1 s gap does not).
    await Promise.all(Array.from({ length: 70 }, (_, i) => throttle(prev, 'sendMessage', { chat_id: 1_000 + i, text: 'x' } as never)));
    starts.sort((a, b) => a - b);
    const busiest = Math.max(...starts.map((t, i) => starts.filter((u, j) => j >= i && u < t + 1_000).length));
    expect(busiest).toBeLessThanOrEqual(30);
    expect(starts).toHaveLength(70);
    // Chat actions are not messages: never delayed behind them.
    const before = performance.now();
    await throttle(prev, 'sendChatAction', { chat_id: 5, action: 'typing' } as never);
    expect(performance.now() - before).toBeLessThan(30);
  });
});
