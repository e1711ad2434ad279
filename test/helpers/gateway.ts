import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { Backend } from '../../core/backend.js';
import { EchoBackend } from '../../core/backends/echo.js';
import { parseConfig, type Config } from '../../core/config.js';
import { publishEvents } from '../../core/connector.js';
import { configuredWorkspace } from '../../core/assistant-choice.js';
import { streamEditInterval } from '../../core/drafts.js';
import type { Reply } from '../../core/event.js';
import type { Redactor } from '../../core/redactor.js';
import type { JobInput } from '../../core/queue.js';
import { outboundHandler } from '../../core/outbound.js';
import { buildPipelines, type AnyPlug } from '../../core/plug.js';
import { CONTROL_QUEUE, inboundHandler, INBOUND_QUEUE, isOwnerDecision } from '../../core/session-worker.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import type { RuntimeAssistant } from '../../core/talk.js';
import { EmbeddedDriver } from '../../queues/embedded.js';
import { builtinPlugs } from '../../plugs/index.js';
import { MemoryLimiter } from '../../core/rate-limiter.js';
import { tempDir } from './tmp.js';

/** An in-process gateway on the embedded queue: worker + one outbound consumer that records what it "sent". */
export async function startTestGateway(
  options: { config?: unknown; backend?: Backend; plugs?: AnyPlug[]; platform?: string; now?: () => number; redactor?: Redactor } = {},
) {
  const tmp = tempDir();
  const file = join(tmp.dir, 'monkeyclaw.db');
  const store = new SqliteStore(file);
  await store.migrate();
  const queue = new EmbeddedDriver({ file, leaseMs: 2_000 });
  const config: Config = parseConfig(options.config ?? {});
  const registry = builtinPlugs();
  for (const p of options.plugs ?? []) registry.set(p.name, p);
  const services = { config, now: options.now ?? Date.now, extra: {}, limiter: new MemoryLimiter(), access: store.accessStore(), sessions: store, approvals: store.approvalStore() };
  const name = Object.keys(config.assistants)[0]!;
  const a = config.assistants[name]!;
  const assistant: RuntimeAssistant = { name, config: a, pipelines: buildPipelines(name, a, registry, services), backends: [options.backend ?? new EchoBackend()] };
  const sent: Reply[] = [];
  // Streamed replies as the real worker queues them (web chat always streams; connectors with streamEdits).
  /** Every draft the worker queued, whether or not the recording sender (which cannot edit) shows it. */
  const drafts: Reply[] = [];
  const streaming = {
    intervalFor: (event: { account: string }) => streamEditInterval(config, event.account),
    enqueue: (q: string, job: JobInput) => (drafts.push(job.payload as Reply), queue.enqueue(q, [job])),
    onError: () => undefined,
  };
  const handler = inboundHandler({
    store,
    assistantFor: () => assistant,
    now: Date.now,
    streaming,
    workspaceFor: (e) => configuredWorkspace(config, e),
    ...(options.redactor ? { redactor: options.redactor } : {}),
  });
  const worker = queue.consume(INBOUND_QUEUE, handler, { concurrency: 8, backoffMs: 20, maxAttempts: 3 });
  const control = queue.consume(CONTROL_QUEUE, handler, { concurrency: 2, backoffMs: 20, maxAttempts: 3 });
  const platform = options.platform ?? 'telegram';
  const outbound = queue.consume(`outbound:${platform}`, outboundHandler(store, `connector:${platform}`, async (r) => {
    sent.push(r);
    return [`m${sent.length}`];
  }));
  return {
    store,
    queue,
    sent,
    drafts,
    publish: (raw: unknown[]) => publishEvents(queue, store, `connector:${platform}`, raw, isOwnerDecision(config)),
    async waitForReplies(n: number, timeoutMs = 10_000) {
      const start = Date.now();
      while (sent.length < n) {
        if (Date.now() - start > timeoutMs) throw new Error(`only ${sent.length} of ${n} replies arrived`);
        await sleep(10);
      }
      return sent;
    },
    async stop() {
      await Promise.all([worker.close(1_000), control.close(1_000)]);
      await outbound.close(1_000);
      await queue.close();
      await store.close();
      tmp.remove();
    },
  };
}
