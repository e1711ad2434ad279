import type { Logger } from 'pino';
import type { Consumer } from '../core/queue.js';
import { inboundHandler, INBOUND_QUEUE } from '../core/session-worker.js';
import { builtinPlugs } from '../plugs/index.js';
import { assistantResolver, buildAssistants, openLimiter, type Runtime } from './runtime.js';

export const WORKER_ROLE = 'worker';
const HEARTBEAT_MS = 1_000;

export interface RunningWorker {
  stop(drainMs?: number): Promise<void>;
}

/** A session worker: consumes `inbound`, runs each event's turn, hands replies to the outbound queues. */
export async function startWorker(rt: Runtime, log: Logger, { concurrency = 8 } = {}): Promise<RunningWorker> {
  const { limiter, close: closeLimiter } = await openLimiter(rt);
  const services = { config: rt.config, now: Date.now, extra: {}, limiter, access: rt.store.accessStore(), sessions: rt.store };
  const assistants = buildAssistants(rt.config, builtinPlugs(), services, rt.resolve);
  await rt.store.upsertAssistants(rt.config.assistants);
  const handler = inboundHandler({ store: rt.store, assistantFor: assistantResolver(rt.config, assistants), now: Date.now, dataDir: rt.dataDir });
  const consumer: Consumer = rt.queue.consume(INBOUND_QUEUE, handler, {
    concurrency,
    onDead: async (job, error) => {
      log.error({ job: job.id, error }, 'inbound job dead-lettered');
      await rt.store.appendAudit([{ kind: 'queue.dead_lettered', actor: WORKER_ROLE, subject: job.id, data: { queue: job.queue, error: error.slice(0, 500) } }]);
    },
  });
  await rt.store.heartbeat(WORKER_ROLE);
  const beat = setInterval(() => void rt.store.heartbeat(WORKER_ROLE).catch(() => undefined), HEARTBEAT_MS);
  beat.unref();
  log.info({ queue: rt.queue.name, concurrency }, 'worker started');
  return {
    stop: async (drainMs = 8_000) => {
      clearInterval(beat);
      await consumer.close(drainMs);
      await rt.store.endHeartbeat(WORKER_ROLE);
      await closeLimiter();
      log.info('worker stopped');
    },
  };
}
