import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, resolveQueue, resolveRef, type Config } from '../core/config.js';
import type { Backend } from '../core/backend.js';
import { EchoBackend } from '../core/backends/echo.js';
import type { ChannelEvent } from '../core/event.js';
import { conversationIdentity } from '../core/event.js';
import { buildPipelines, type AnyPlug, type PlugServices } from '../core/plug.js';
import type { QueueDriver } from '../core/queue.js';
import type { LimiterStore } from '../core/rate-limiter.js';
import { SqliteLimiter } from '../core/sqlite/limiter.js';
import { SqliteStore } from '../core/sqlite/store.js';
import type { RuntimeAssistant } from '../core/talk.js';
import { EmbeddedDriver } from '../queues/embedded.js';
import { loadConfig } from './config-file.js';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
}

export const resolveDataDir = (o: GlobalOptions): string => resolve(o.dataDir ?? process.env.MONKEYCLAW_DATA_DIR ?? './data');
export const dbFile = (dataDir: string): string => join(dataDir, 'monkeyclaw.db');

/** What every process opens: config, data directory, store (migrated), queue. */
export interface Runtime {
  config: Config;
  configSource: string;
  dataDir: string;
  store: SqliteStore;
  queue: QueueDriver;
  close(): Promise<void>;
}

export async function openRuntime(options: GlobalOptions, { migrate = true } = {}): Promise<Runtime> {
  const { config, source } = loadConfig(options.config);
  const dataDir = resolveDataDir(options);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const store = new SqliteStore(dbFile(dataDir));
  if (migrate) await store.migrate();
  const queue = await openQueue(config, dataDir);
  return {
    config,
    configSource: source,
    dataDir,
    store,
    queue,
    close: async () => {
      await queue.close();
      await store.close();
    },
  };
}

export async function openQueue(config: Config, dataDir: string): Promise<QueueDriver> {
  const q = resolveQueue(config, process.env);
  if (q.driver === 'embedded') return new EmbeddedDriver({ file: dbFile(dataDir), leaseMs: q.leaseMs });
  const url = resolveRef(q.redisUrl, process.env, 'queue.redisUrl');
  // Loaded only when chosen, so the embedded default never pays for the Redis client.
  const { BullmqDriver } = await import('../queues/bullmq.js');
  return new BullmqDriver({ url, partitions: q.partitions, leaseMs: q.leaseMs });
}

/** The rate-limit buckets live where the queue does, so every worker shares them. */
export async function openLimiter(config: Config, dataDir: string): Promise<{ limiter: LimiterStore; close(): Promise<void> }> {
  const q = resolveQueue(config, process.env);
  if (q.driver === 'embedded') {
    const limiter = new SqliteLimiter(dbFile(dataDir));
    return { limiter, close: () => limiter.close() };
  }
  const [{ Redis }, { RedisLimiter }] = await Promise.all([import('ioredis'), import('../queues/redis-limiter.js')]);
  const redis = new Redis(resolveRef(q.redisUrl, process.env, 'queue.redisUrl'), { lazyConnect: false });
  return { limiter: new RedisLimiter(redis), close: async () => void (await redis.quit()) };
}

export function createBackend(name: string, config: Config): Backend {
  const b = config.backends[name] ?? (name === 'echo' ? { type: 'echo' as const } : undefined);
  if (!b) throw new ConfigError(`unknown backend "${name}"`);
  switch (b.type) {
    case 'echo':
      return new EchoBackend(name);
    default:
      throw new ConfigError(`backends.${name}: backend type "${b.type}" is not available in this build`);
  }
}

/** Renders each configured assistant into its runtime form: plug pipelines initialized once, backends built. */
export function buildAssistants(config: Config, registry: ReadonlyMap<string, AnyPlug>, services: PlugServices): Map<string, RuntimeAssistant> {
  const out = new Map<string, RuntimeAssistant>();
  for (const [name, a] of Object.entries(config.assistants)) {
    out.set(name, {
      name,
      config: a,
      pipelines: buildPipelines(name, a, registry, services),
      backends: [a.backend].flat().map((b) => createBackend(b, config)),
    });
  }
  return out;
}

/** Which assistant answers an event: the channel's, else its connector's, else `default` (else the first). */
export function assistantResolver(config: Config, assistants: Map<string, RuntimeAssistant>) {
  const fallback = assistants.get('default') ?? [...assistants.values()][0];
  if (!fallback) throw new ConfigError('assistants: at least one assistant is required');
  return (event: ChannelEvent): RuntimeAssistant => {
    const byChannel = config.channels[conversationIdentity(event)]?.assistant;
    const byConnector = (config.connectors as Record<string, { assistant?: string } | undefined>)[event.platform]?.assistant;
    const name = byChannel ?? event.assistant ?? byConnector;
    return (name && assistants.get(name)) || fallback;
  };
}
