import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { allAssistantNames } from '../../core/assistant-settings.js';
import { publishEvents } from '../../core/connector.js';
import { isOwnerDecision } from '../../core/session-worker.js';
import { settlesWithin } from '../../core/deadline.js';
import { dedupeKey, outboundQueue, type ChannelEvent, type Reply } from '../../core/event.js';
import { outboundHandler } from '../../core/outbound.js';
import { createLoopbackConnector } from '../../connectors/loopback/index.js';
import { UsageError } from '../errors.js';
import { readPipedText } from '../prompt.js';
import { recordDeadLetters } from '../../core/dead-letters.js';
import { createLogger } from '../logger.js';
import { openRuntime, type GlobalOptions } from '../runtime.js';
import { gatewayQueue } from '../gateway-queue.js';
import { startWorker, WORKER_QUEUE_KEY, WORKER_ROLE, type RunningWorker } from '../worker.js';
import { terminalText } from '../terminal-text.js';
import { turnDeadline } from '../../core/turn-deadline.js';

/**
 * What `chat --once` reads from stdin: ten times the longest message a connector takes (100,000 characters, four
 * bytes each at most). A message over 100,000 characters is sent and gets the too-long notice, as on every platform;
 * past this, the pipe holds no message (a disk image, /dev/zero) and is not read to its end.
 */
const MAX_ONCE_INPUT_BYTES = 4 * 1024 * 1024;
const ONCE_REFUSAL = { tooLarge: 'that is no message; nothing was sent', notText: 'nothing was sent' };

/**
 * `monkeyclaw chat`: the terminal as a loopback connector. When a gateway runs on the same data dir its workers
 * answer; otherwise this process runs a worker of its own, so the command works either way.
 */
export async function chat(options: GlobalOptions & { once?: boolean; assistant?: string; timeout?: number }): Promise<number> {
  const rt = await openRuntime(options, 'chat');
  // As long as the web chat and the API wait: what the assistant's backends may take, plus a minute.
  // Without --assistant, the terminal's conversation may be bound to one in the config (`channels["loopback:local"]`).
  const answering = options.assistant ?? rt.config.channels['loopback:local']?.assistant;
  const timeoutS = options.timeout ?? (await turnDeadline(rt.config, rt.store.settingsStore())(answering)) / 1000;
  const log = createLogger('chat', 'warn', rt.redactor);
  const known = await allAssistantNames(rt.config, rt.store.settingsStore());
  if (options.assistant && !known.includes(options.assistant)) {
    await rt.close();
    throw new UsageError(`unknown assistant "${options.assistant}" (known: ${known.join(', ')})`);
  }
  const replies: Reply[] = [];
  let notify: (() => void) | undefined;
  const connector = createLoopbackConnector({
    ...(options.assistant ? { assistant: options.assistant } : {}),
    onReply: (reply) => {
      replies.push(reply);
      notify?.();
    },
  });
  // The terminal connector has no platform that could refuse it.
  await connector.start({ publish: (raw) => publishEvents(rt.queue, rt.store, 'connector:loopback', raw, isOwnerDecision(rt.config)), fail: (error) => { throw error; } });
  const outbound = rt.queue.consume(outboundQueue({ platform: 'loopback', account: connector.account }), outboundHandler(rt.store, 'connector:loopback', connector.send), {
    concurrency: 1,
    onDead: recordDeadLetters(rt.store, 'connector:loopback'),
  });

  let worker: RunningWorker | undefined;
  const ensureWorker = async () => {
    if (worker) return;
    if ((await rt.store.liveProcesses(WORKER_ROLE, 3_000)) === 0) return void (worker = await startWorker(rt, log, { concurrency: 2 }));
    // The running workers read other queues (start without REDIS_URL and chat with it, another Redis database or
    // prefix): nothing would ever answer. A worker from before `where` was recorded wrote the driver's name alone.
    const theirs = (await gatewayQueue(rt)) ?? (await rt.store.getConnectorState(WORKER_ROLE, WORKER_QUEUE_KEY));
    if (typeof theirs === 'string' && theirs !== rt.queue.where && theirs !== rt.queue.name) {
      throw new UsageError(`the gateway running on this data dir uses ${theirs}, and this chat ${rt.queue.where}: give chat the same queue settings (config, REDIS_URL) as start`);
    }
  };
  const shutdown = async () => {
    await outbound.close(2_000);
    // This terminal's reply queue is its own and ends with it: on Redis it would otherwise leave keys behind for good.
    await settlesWithin(rt.queue.discard(outboundQueue({ platform: 'loopback', account: connector.account })), 2_000);
    await worker?.stop(2_000);
    await rt.close();
  };

  /**
   * Ctrl-C or SIGTERM: the reply queue is cleaned up on the way out, as at the end of input, and a message still
   * waiting for its answer is given up, so no worker runs it (and its backend call) later for nobody.
   */
  let interrupted: NodeJS.Signals | undefined;
  let rl: ReturnType<typeof createInterface> | undefined;
  let endWait: () => void = () => undefined;
  const interruption = new Promise<undefined>((resolve) => (endWait = () => resolve(undefined)));
  const stop = (signal: NodeJS.Signals) => {
    interrupted = signal;
    rl?.close();
    notify?.();
    endWait();
  };
  const onSigint = () => stop('SIGINT');
  const onSigterm = () => stop('SIGTERM');
  // A SIGINT or SIGTERM sent by kill reaches the process; a terminal's Ctrl-C in readline reaches readline.
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  const interruptedCode = () => 128 + (interrupted === 'SIGINT' ? 2 : 15);
  // A message given up is marked handled, so no worker runs it (and its backend call) later for nobody.
  const giveUp = (event: ChannelEvent, why: 'interrupted' | 'timeout') =>
    rt.store.abandonTurn(dedupeKey(event), event.id, [{ kind: 'turn.abandoned', actor: 'connector:loopback', subject: event.id, data: { why } }]);

  /** Waits until the turn of `eventId` is handled and all of its replies arrived; returns them. */
  const awaitReplies = async (eventKey: string, eventId: string): Promise<Reply[] | undefined> => {
    const deadline = Date.now() + timeoutS * 1000;
    while (Date.now() < deadline && !interrupted) {
      await ensureWorker();
      const turn = await rt.store.handledTurn(eventKey);
      const mine = replies.filter((r) => r.eventId === eventId);
      if (turn && mine.length >= turn.length) return mine;
      await new Promise<void>((resolve) => {
        notify = resolve;
        void sleep(100).then(resolve);
      });
    }
    return undefined;
  };

  try {
    await ensureWorker();
    if (options.once) {
      const read = await Promise.race([readPipedText(MAX_ONCE_INPUT_BYTES, ONCE_REFUSAL), interruption]);
      if (read === undefined) return interruptedCode();
      const input = read.replace(/\r?\n$/, '');
      if (input.trim() === '') throw new UsageError('nothing to send: pipe a message on stdin');
      const event = await connector.say(input);
      const got = await awaitReplies(dedupeKey(event), event.id);
      if (!got && interrupted) {
        await giveUp(event, 'interrupted');
        return interruptedCode();
      }
      if (!got) {
        await giveUp(event, 'timeout');
        process.stderr.write(`no reply within ${timeoutS} s, and the message was given up (a slow backend: see --timeout; or no worker on this data dir: see \`monkeyclaw doctor\`)\n`);
        return 1;
      }
      if (got.length === 0) {
        process.stderr.write('the message was handled without a reply (a policy plug halted it; see `monkeyclaw audit tail`)\n');
        return 1;
      }
      // What the gateway answered, notices included (a limit, an unavailable backend): the design's "prints the
      // reply and exits". Whether the assistant answered is in the audit log (`audit tail`).
      for (const r of got) process.stdout.write(`${terminalText(r.text)}\n`);
      return 0;
    }
    rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'you> ' });
    rl.on('SIGINT', onSigint);
    // Interrupted while starting up: nothing to read.
    if (interrupted) rl.close();
    rl.prompt();
    for await (const line of rl) {
      // Lines typed ahead of a Ctrl-C are still handed out after it: none is sent.
      if (interrupted) break;
      if (line.trim() !== '') {
        const event = await connector.say(line);
        const got = await awaitReplies(dedupeKey(event), event.id);
        for (const r of got ?? []) process.stdout.write(`assistant> ${terminalText(r.text)}\n`);
        if (!got) await giveUp(event, interrupted ? 'interrupted' : 'timeout');
        if (!got && !interrupted) process.stdout.write(`(no reply within ${timeoutS} s: the message was given up)\n`);
      }
      if (!interrupted) rl.prompt();
    }
    return interrupted ? interruptedCode() : 0;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await shutdown();
  }
}
