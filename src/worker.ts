import type { Logger } from 'pino';
import type { Consumer } from '../core/queue.js';
import { randomUUID } from 'node:crypto';
import type { AuditInput } from '../core/audit.js';
import { outboundQueue, type Address, type ChannelEvent } from '../core/event.js';
import { ownerAddresses } from '../core/owners.js';
import { awaitsAnswer, standingOwners } from '../core/access.js';
import { processRedactor } from '../core/redactor.js';
import { configuredWorkspace } from '../core/assistant-choice.js';
import { streamDraftLimit, streamEditInterval } from '../core/drafts.js';
import { CONTROL_QUEUE, conversationPartition, eventPartition, inboundHandler, INBOUND_QUEUE } from '../core/session-worker.js';
import { toolGovernor } from '../core/tool-governor.js';
import { recordDeadLetters } from '../core/dead-letters.js';
import { builtinPlugs } from '../plugs/index.js';
import { LiveAssistants } from './live-assistants.js';
import { openLimiter, type Runtime } from './runtime.js';

export const WORKER_ROLE = 'worker';

const HEARTBEAT_MS = 1_000;
export const WORKER_QUEUE_KEY = 'queue';
/**
 * Turns run side by side. Most of a turn is spent waiting on a backend, and on the embedded queue the turns in
 * flight share each commit: with 32, a worker committed about half as often per message as with 8, and the bench's
 * end-to-end embedded rate rose by about a third.
 */
const DEFAULT_CONCURRENCY = 32;
/** Owners' approval decisions: few, quick (no backend call), and never to wait behind a turn. */
const CONTROL_CONCURRENCY = 4;

export interface RunningWorker {
  stop(drainMs?: number): Promise<void>;
}

/** A session worker: consumes `inbound`, runs each event's turn, hands replies to the outbound queues. */
export async function startWorker(rt: Runtime, log: Logger, { concurrency = DEFAULT_CONCURRENCY } = {}): Promise<RunningWorker> {
  const { limiter, close: closeLimiter } = await openLimiter(rt);
  const approvals = rt.store.approvalStore();
  const services = { config: rt.config, now: Date.now, extra: {}, limiter, access: rt.store.accessStore(), sessions: rt.store, approvals };
  const audit = (entries: AuditInput[]) => rt.store.appendAudit(entries);
  // Dashboard settings live in their own table, so this mirror of the config file never overwrites them.
  const live = await LiveAssistants.open({ config: rt.config, registry: builtinPlugs(), services, resolve: rt.resolve, settings: rt.store.settingsStore(), log, audit });
  await rt.store.upsertAssistants(rt.config.assistants);
  const assistantFor = (event: ChannelEvent) => live.resolve(event);
  /** A notice sent now, while the turn waits (not with the turn's commit). */
  const noticeNow = async (event: ChannelEvent, address: Address, partition: string, text: string, replyTo?: string) => {
    const key = `${event.id}:approval:${randomUUID()}`;
    const reply = { v: 1, idempotencyKey: key, eventId: event.id, address, ...(replyTo ? { replyTo } : {}), text, format: 'plain', kind: 'notice' } as const;
    await rt.queue.enqueue(outboundQueue(address), [{ id: key, partition, payload: reply }]);
  };
  const onToolRequest = toolGovernor({
    approvals,
    assistantFor,
    now: Date.now,
    audit,
    redact: (text) => processRedactor.redactTokens(text),
    // Owners must hear of an approval while the turn waits for it, so this goes out now, not with the turn.
    notifyOwners: async (event, text) => {
      for (const address of ownerAddresses(await standingOwners(rt.config.access, services.access), event)) await noticeNow(event, address, conversationPartition(address), text);
    },
    // In a chat, not on a surface that waits for the turn's answer (API, web chat, terminal): there it would be taken for it.
    tellRequester: async (event, text) => {
      if (awaitsAnswer(event)) return;
      const address = { platform: event.platform, account: event.account, conversation: event.conversation };
      await noticeNow(event, address, eventPartition(event), text, event.platformMessageId);
    },
  });
  const handler = inboundHandler({
    store: rt.store,
    assistantFor,
    now: Date.now,
    dataDir: rt.dataDir,
    onToolRequest,
    // What failed is logged at warn; the provider's own words only at debug: they can quote the prompt.
    onAttemptFailed: (backend, error) => {
      const e = error as { name?: unknown; kind?: unknown; status?: unknown; message?: unknown; providerSaid?: unknown };
      // A backend that could not start says why in the gateway's own words (no prompt in them): at warn too.
      const why = e?.kind === 'spawn' ? { detail: String(e.message).slice(0, 300) } : {};
      log.warn({ backend, error: e?.name, kind: e?.kind, status: e?.status, ...why }, 'backend call failed');
      log.debug({ backend, detail: String(e?.message ?? error).slice(0, 500), ...(e?.providerSaid ? { providerSaid: e.providerSaid } : {}) }, 'backend call failed: the provider said');
    },
    workspaceFor: (event) => configuredWorkspace(rt.config, event),
    redactor: processRedactor,
    streaming: {
      intervalFor: (event) => streamEditInterval(rt.config, event.account),
      limitFor: (event) => streamDraftLimit(rt.config, event.account, event.platform),
      enqueue: (queue, job) => rt.queue.enqueue(queue, [job]),
      onError: (error) => log.warn({ error: (error as Error).message }, 'a draft of a streamed reply was not queued'),
    },
  });
  const onDead = recordDeadLetters(rt.store, WORKER_ROLE, (job, error) => log.error({ job: job.id, queue: job.queue, error }, 'job dead-lettered'));
  const consumers: Consumer[] = [
    rt.queue.consume(INBOUND_QUEUE, handler, { concurrency, onDead }),
    // Slots of its own: turns waiting for an approval may hold every `inbound` slot.
    rt.queue.consume(CONTROL_QUEUE, handler, { concurrency: CONTROL_CONCURRENCY, onDead }),
  ];
  await rt.store.heartbeat(WORKER_ROLE);
  // Which queue the workers of this data dir take events from: `chat` must publish to the same one.
  await rt.store.setConnectorState(WORKER_ROLE, WORKER_QUEUE_KEY, rt.queue.where);
  const beat = setInterval(() => void rt.store.heartbeat(WORKER_ROLE).catch(() => undefined), HEARTBEAT_MS);
  beat.unref();
  log.info({ queue: rt.queue.name, concurrency }, 'worker started');
  return {
    // 7 s: the supervisor kills at 7.5 s (to exit within the 10 s DESIGN allows), and handing back what is
    // unfinished takes a moment.
    stop: async (drainMs = 7_000) => {
      clearInterval(beat);
      await Promise.all(consumers.map((c) => c.close(drainMs)));
      await rt.store.endHeartbeat(WORKER_ROLE);
      await closeLimiter();
      log.info('worker stopped');
    },
  };
}
