import type { Connector, WebhookRequest, WebhookResponse } from '../../core/connector.js';
import { publishEvents } from '../../core/connector.js';
import { isOwnerDecision } from '../../core/session-worker.js';
import { outboundQueue } from '../../core/event.js';
import { outboundHandler } from '../../core/outbound.js';
import { noSealedState, sealedState } from '../../core/sealed-state.js';
import { loadConnector } from '../connectors.js';
import { NO_MASTER_KEY } from '../credentials.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../logger.js';
import { openRuntime, type GlobalOptions } from '../runtime.js';
import { terminated } from './start.js';
import { isWebhookMessage, WEBHOOK_RESPONSE } from '../webhook-ipc.js';
import { LISTENING } from '../child-ipc.js';
import { RefusalReporter } from '../../core/refusals.js';
import { recordDeadLetters } from '../../core/dead-letters.js';

/**
 * `monkeyclaw connector <name>`: one platform connector in its own process, holding only its own credentials.
 * Inbound: the connector publishes events. Outbound: this process consumes `outbound:<platform>` and sends.
 */
export async function runConnector(name: string, options: GlobalOptions): Promise<number> {
  const create = await loadConnector(name);
  if (!create) throw new UsageError(`connector "${name}" is not available in this build`);
  const rt = await openRuntime(options, `connector:${name}`);
  const section = (rt.config.connectors as Record<string, { enabled?: boolean } | undefined>)[name];
  if (!section?.enabled) {
    await rt.close();
    throw new UsageError(`connector "${name}" is not enabled in the config (connectors.${name}.enabled)`);
  }
  const actor = `connector:${name}`;
  const log = createLogger(actor, 'info', rt.redactor);
  const connector: Connector = create({
    name,
    config: section as never,
    gateway: rt.config,
    resolve: rt.resolve,
    store: rt.store,
    access: rt.store.accessStore(),
    sealed: rt.stateKey ? sealedState(rt.store, rt.stateKey) : noSealedState(NO_MASTER_KEY),
    log,
    dataDir: rt.dataDir,
    now: Date.now,
  });
  // Webhooks arrive from the HTTP server over IPC; only this process holds the signing secret. Listened for before
  // the platform is reached (a 503 meanwhile), and the supervisor forwards none before this process says it listens.
  let started = false;
  process.on('message', (message: unknown) => {
    if (!isWebhookMessage(message)) return;
    const request: WebhookRequest = { method: message.method, path: message.path, headers: message.headers, body: Buffer.from(message.body, 'base64') };
    const answer: Promise<WebhookResponse> = !started
      ? // Still connecting to its platform, or stopping: the platform retries a 503 (Telegram, Slack), nothing is lost.
        Promise.resolve({ status: 503, headers: { 'retry-after': '5' }, body: 'connector not ready' })
      : connector.handleWebhook
        ? connector.handleWebhook(request).catch((error: unknown) => {
            log.error({ error: (error as Error).message }, 'webhook handler failed');
            return { status: 500 };
          })
        : Promise.resolve({ status: 404 });
    void answer.then((response) => process.send?.({ type: WEBHOOK_RESPONSE, id: message.id, ...response }));
  });
  process.send?.({ type: LISTENING });
  let fail!: (error: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  await connector.start({ publish: (raw) => publishEvents(rt.queue, rt.store, actor, raw, isOwnerDecision(rt.config)), fail });
  started = true;
  const outbound = rt.queue.consume(outboundQueue({ platform: connector.platform, account: name }), outboundHandler(rt.store, actor, connector, {
    onDraftError: (error) => log.warn({ error: (error as Error).message }, 'a streamed draft was not shown; the final reply still will be'),
    // Seen before the dead-letter queue: a mail server answering 451, a platform's 5xx, each attempt named.
    onSendError: (error, reply, attempt) =>
      log.warn({ error: (error as Error).message, attempt, key: reply.idempotencyKey, conversation: `${reply.address.platform}:${reply.address.conversation.id}` }, 'sending a reply failed'),
    onRecordError: (error, attempt) =>
      log.warn({ error: (error as Error).message, attempt }, 'a reply the platform took is not on record yet; retrying the record, not the send'),
  }), {
    concurrency: 4,
    // A platform blip (a reconnect, a 5xx burst) is ridden out for about two minutes before a reply is dead-lettered.
    maxAttempts: 10,
    backoffMs: 500,
    onDead: recordDeadLetters(rt.store, actor, (job, error) => log.error({ job: job.id, error }, 'reply dead-lettered')),
  });
  const beat = setInterval(() => void rt.store.heartbeat(actor).catch(() => undefined), 2_000);
  await rt.store.heartbeat(actor);
  log.info('connector started');
  const orphaned = new Promise<string>((resolve) => process.once('disconnect', () => resolve('supervisor gone')));
  // A connector that failed stops like one told to, then exits with its error (cli.ts reports it to the supervisor).
  const why = await Promise.race([terminated(), orphaned, failed]).catch((error: Error) => error);
  log.info({ why: why instanceof Error ? why.message : why }, 'connector stopping');
  started = false;
  clearInterval(beat);
  const shutdown = async () => {
    // 5 s: stopping the platform client comes after (Signal's waits up to 2 s to store what it has read), and all of
    // it must fit before the supervisor's kill at 7.5 s (a send stalled on a long 429 took the whole drain).
    await outbound.close(5_000);
    await connector.stop();
    // What was refused in the last minute (forged webhooks) is on record before the store closes.
    await RefusalReporter.flushAll();
    await rt.store.endHeartbeat(actor);
    await rt.close();
  };
  if (!(why instanceof Error)) return shutdown().then(() => 0);
  // The failure is what the supervisor must hear, whatever the shutdown after it runs into.
  await shutdown().catch((error: Error) => log.error({ error: error.message }, 'stopping after the failure failed too'));
  throw why;
}
