import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createInbound } from '../../../connectors/telegram/inbound.js';
import { parseConfig } from '../../../core/config.js';
import type { TypingIndicator } from '../../../core/typing.js';
import type { TypingPlace } from '../../../connectors/telegram/typing.js';
import { NO_ACCESS_CHANGES } from '../../helpers/connector-harness.js';
import { BOT, dm } from './fixtures.js';

describe('telegram inbound', () => {
  it('shows "typing…" for a batch only while publishing works: a batch that keeps failing comes back with each poll', async () => {
    let failing = true;
    const started: string[] = [];
    const typing = { start: (place: TypingPlace) => void started.push(place.id), stop: () => undefined } as unknown as TypingIndicator<TypingPlace>;
    const inbound = createInbound({
      deps: { name: 'telegram', store: { appendAudit: async () => undefined } as never, access: NO_ACCESS_CHANGES, log: pino({ level: 'silent' }), gateway: parseConfig({ access: { dm: 'open' } }) },
      io: {
        publish: async (events) => {
          if (failing) throw new Error('database or disk is full');
          return events as never;
        },
        fail: () => undefined,
      },
      parse: { account: 'telegram', bot: { id: BOT.id, username: BOT.username }, now: Date.now },
      typing,
    });
    const batch = [{ update_id: 1, ...dm('hello') }];
    await expect(inbound.handle(batch)).rejects.toThrow(/disk is full/);
    await expect(inbound.handle(batch)).rejects.toThrow(/disk is full/);
    await expect(inbound.handle(batch)).rejects.toThrow(/disk is full/);
    // Shown with the first try, not again with each retry of the same batch.
    expect(started).toHaveLength(1);
    failing = false;
    await expect(inbound.handle(batch)).resolves.toBe(2);
    await inbound.handle([{ update_id: 2, ...dm('again') }]);
    expect(started).toHaveLength(2);
  });
});
