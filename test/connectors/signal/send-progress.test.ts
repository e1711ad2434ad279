import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createSend } from '../../../connectors/signal/send.js';
import { plainReply, sharedProgress } from '../../helpers/part-progress.js';
import { cleanups } from '../../helpers/wait.js';

const cleanup = cleanups();

describe('signal send across a restart', () => {
  it('a long reply cut off part-way goes on, in a new process, after the last part signal-cli accepted', async () => {
    const shared = await sharedProgress('signal');
    cleanup.push(() => shared.close());
    const sent: string[] = [];
    // signal-cli as the connector's JSON-RPC sees it: the connection drops on send number `failAt`.
    const send = (failAt = -1) => {
      let calls = 0;
      return createSend({
        call: async (_method, params) => {
          if (calls++ === failAt) throw new Error('signal-cli connection closed');
          sent.push(params.message as string);
          return { timestamp: 1_700_000_000_000 + sent.length };
        },
        progress: shared.progress,
        log: pino({ level: 'silent' }),
        selfId: () => 'self-uuid',
        maxMessageChars: undefined,
      });
    };
    const text = Array.from({ length: 1_000 }, (_, i) => `w${i}`).join(' ');
    const reply = plainReply('signal', 'uuid-1', text);
    const signal = new AbortController().signal;

    await expect(send(2)(reply, signal)).rejects.toThrow(/connection closed/);
    expect(sent).toHaveLength(2);
    const ids = await send()(reply, signal);
    expect(ids).toHaveLength(sent.length);
    expect(sent.join(' ')).toBe(text);
  });
});
