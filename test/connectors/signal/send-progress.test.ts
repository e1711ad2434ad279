import { createServer, type AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SignalConnectionError } from '../../../connectors/signal/rpc.js';
import { createSend } from '../../../connectors/signal/send.js';
import { connectTcp } from '../../../connectors/signal/tcp.js';
import { isRefused } from '../../../core/outbound.js';
import { parseEndpoint } from '../../../core/rpc-endpoint.js';
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

describe('signal send that signal-cli does not answer in time', () => {
  it('says in the log that the retry may repeat it, and leaves the intent standing (not withdrawn as refused)', async () => {
    // A signal-cli that reads the send and never answers it.
    const server = createServer((socket) => socket.on('data', () => undefined));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const endpoint = parseEndpoint(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`)!;
    const conn = await connectTcp(endpoint, { onNotification: () => undefined, onMalformed: () => undefined, onActivity: () => undefined }, 2_000);
    cleanup.push(() => conn.close());
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
    const shared = await sharedProgress('signal');
    cleanup.push(() => shared.close());
    const send = createSend({
      call: (method, params, timeoutMs) => conn.call(method, params, timeoutMs),
      progress: shared.progress,
      log,
      selfId: () => 'self-uuid',
      maxMessageChars: undefined,
      sendTimeoutMs: 200,
    });
    const error = await send(plainReply('signal', 'uuid-1', 'hello'), new AbortController().signal).catch((e: Error) => e);
    expect(error).toBeInstanceOf(SignalConnectionError);
    expect((error as Error).message).toMatch(/did not answer send within 200 ms/);
    // signal-cli may have sent it: a refusal would withdraw the intent and the retry would not be audited as resent.
    expect(isRefused(error)).toBe(false);
    expect(warnings).toEqual(['signal-cli did not answer a send in time; sending it again, which may repeat it']);
  });
});
