import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sealedState } from '../../core/sealed-state.js';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { parseConfig, type Config } from '../../core/config.js';
import { publishEvents, type Connector, type ConnectorDeps, type ConnectorFactory, type ConnectorIO } from '../../core/connector.js';
import { configuredWorkspace } from '../../core/assistant-choice.js';
import { streamEditInterval } from '../../core/drafts.js';
import { outboundQueue } from '../../core/event.js';
import type { JobInput } from '../../core/queue.js';
import { outboundHandler } from '../../core/outbound.js';
import { MemoryLimiter } from '../../core/rate-limiter.js';
import { inboundHandler, INBOUND_QUEUE } from '../../core/session-worker.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { EmbeddedDriver } from '../../queues/embedded.js';
import { assistantResolver, buildAssistants } from '../../src/runtime.js';
import { builtinPlugs } from '../../plugs/index.js';
import { tempDir } from './tmp.js';
import { isOwnerDecision } from '../../core/session-worker.js';

/** For connectors made outside the harness in tests that do not look at access: no run-time changes. */
export const NO_ACCESS_CHANGES = { overrides: async () => new Map() };

export interface HarnessOptions<C> {
  /** The gateway config (YAML-shaped object); `connectors.<name>` is handed to the connector. */
  config: unknown;
  name: string;
  create: ConnectorFactory<C>;
  /** Secret and env references the connector may resolve. */
  secrets?: Record<string, string>;
  /** Wraps the durable publish the connector is given (to slow it down, or note when it finished). */
  wrapPublish?: (publish: ConnectorIO['publish']) => ConnectorIO['publish'];
  /** Wraps the run-time access store the connector reads (to hold its checks back). */
  wrapAccess?: (access: ConnectorDeps['access']) => ConnectorDeps['access'];
}

/** A durable publish slowed by `delayMs`, noting when it finished: what a connector does before that can be seen. */
export function delayedPublish(delayMs: number): { wrap: NonNullable<HarnessOptions<unknown>['wrapPublish']>; storedAt(): number | undefined } {
  let storedAt: number | undefined;
  return {
    wrap: (publish) => async (events) => {
      await sleep(delayMs);
      const stored = await publish(events);
      storedAt = Date.now();
      return stored;
    },
    storedAt: () => storedAt,
  };
}

/**
 * The whole gateway in one test process around one real connector: the connector publishes to the embedded queue,
 * a session worker answers, and the connector's outbound queue is consumed through its `send`, exactly as the
 * connector process does. Use it to prove round trips against a fake platform API; stop() and restart() model
 * downtime (the data directory survives a restart).
 */
export async function startConnectorHarness<C>(options: HarnessOptions<C>) {
  const tmp = tempDir('mc-conn-');
  const file = join(tmp.dir, 'monkeyclaw.db');
  const config: Config = parseConfig(options.config);
  const log = pino({ level: process.env.MONKEYCLAW_TEST_LOG ?? 'silent' });
  const store = new SqliteStore(file);
  await store.migrate();
  const queue = new EmbeddedDriver({ file, leaseMs: 2_000 });
  const services = { config, now: Date.now, extra: {}, limiter: new MemoryLimiter(), access: store.accessStore(), sessions: store, approvals: store.approvalStore() };
  const assistants = buildAssistants(config, builtinPlugs(), services, (ref) => ref);
  const streaming = {
    intervalFor: (event: { account: string }) => streamEditInterval(config, event.account),
    enqueue: (q: string, job: JobInput) => queue.enqueue(q, [job]),
    onError: (error: unknown) => log.warn({ error }, 'draft not queued'),
  };
  const handler = inboundHandler({ store, assistantFor: assistantResolver(config, assistants), now: Date.now, streaming, workspaceFor: (e) => configuredWorkspace(config, e) });
  const worker = queue.consume(INBOUND_QUEUE, handler, { concurrency: 8, backoffMs: 20 });
  const actor = `connector:${options.name}`;
  const stateKey = randomBytes(32);
  const resolve = (ref: string, field: string): string => {
    const v = options.secrets?.[ref];
    if (v === undefined) throw new Error(`${field}: ${ref} not provided to the test connector`);
    return v;
  };

  let connector: Connector | undefined;
  let outbound: { close(ms?: number): Promise<void> } | undefined;
  /** What the connector gave up on (`io.fail`): its process would exit with it. */
  const failures: Error[] = [];
  const startConnector = async () => {
    connector = options.create({
      name: options.name,
      config: (config.connectors as Record<string, unknown>)[options.name] as C,
      gateway: config,
      resolve,
      store,
      access: options.wrapAccess?.(store.accessStore()) ?? store.accessStore(),
      sealed: sealedState(store, stateKey),
      log,
      dataDir: tmp.dir,
      now: Date.now,
    });
    const publish: ConnectorIO['publish'] = (raw) => publishEvents(queue, store, actor, raw, isOwnerDecision(config));
    await connector.start({ publish: options.wrapPublish?.(publish) ?? publish, fail: (error) => void failures.push(error) });
    outbound = queue.consume(outboundQueue({ platform: connector.platform, account: options.name }), outboundHandler(store, actor, connector), { concurrency: 4, backoffMs: 50 });
  };
  const stopConnector = async () => {
    await outbound?.close(2_000);
    await connector?.stop();
    connector = undefined;
  };
  await startConnector();

  return {
    store,
    /** The connector's sealed state, as the connector sees it. */
    sealed: sealedState(store, stateKey),
    queue,
    config,
    get connector() {
      return connector!;
    },
    failures,
    /** Stops only the connector (the gateway keeps running), as a crashed or restarted connector process would. */
    stopConnector,
    startConnector,
    /** Audit kinds so far, oldest first. */
    async auditKinds(): Promise<string[]> {
      return (await store.auditTail(10_000)).map((e) => e.kind);
    },
    async until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await probe();
        if (v !== undefined && v !== false) return v;
        if (Date.now() > deadline) throw new Error('condition not met in time');
        await sleep(20);
      }
    },
    async stop() {
      await stopConnector();
      await worker.close(1_000);
      await queue.close();
      await store.close();
      tmp.remove();
    },
  };
}
