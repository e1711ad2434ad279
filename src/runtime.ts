import { existsSync, mkdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { assistantCandidates } from '../core/assistant-choice.js';
import { ConfigError, resolveRef as resolveEnvRef, type AssistantConfig, type Config, type QueueConfig } from '../core/config.js';
import { processRedactor, type Redactor } from '../core/redactor.js';
import type { Backend } from '../core/backend.js';
import { createBackend as createCoreBackend, type ResolveRef } from '../core/backends/index.js';
import type { ChannelEvent } from '../core/event.js';
import { buildPipelines, initStep, type AnyPlug, type PlugServices } from '../core/plug.js';
import type { QueueDriver } from '../core/queue.js';
import type { Store } from '../core/store.js';
import type { LimiterStore } from '../core/rate-limiter.js';
import { SqliteLimiter } from '../core/sqlite/limiter.js';
import { SqliteStore } from '../core/sqlite/store.js';
import type { RuntimeAssistant } from '../core/talk.js';
import { EmbeddedDriver } from '../queues/embedded.js';
import { loadConfig } from './config-file.js';
import { loadCredentials, type Resolver } from './credentials.js';
import { createLogger } from './logger.js';
import { dataDirVerdict } from './data-dir-mode.js';
import { UsageError } from './errors.js';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
}

export function resolveDataDir(o: GlobalOptions, use: { exposed?: 'allow' } = {}): string {
  // An empty value is a slip (an unset shell variable), not a wish for the current directory, which would fill with
  // the database: the flag is refused, and an empty variable is as good as none.
  if (o.dataDir !== undefined && o.dataDir.trim() === '') throw new UsageError('--data-dir: must name a directory, not be empty');
  const dir = resolve(o.dataDir ?? (process.env.MONKEYCLAW_DATA_DIR?.trim() || './data'));
  // Created when missing (0700) by whichever command comes first; a file in its place is a usage error, said plainly.
  createMissing(dir);
  // A link to nothing (its target moved or not mounted yet) exists for mkdir, not for stat.
  let stat;
  try {
    stat = statSync(dir, { throwIfNoEntry: false });
  } catch (error) {
    // A loop of links, a path through a file: the system's words, without its code and call.
    throw new UsageError(`the data dir ${dir} cannot be used: ${(error as Error).message.replace(/^[A-Z]+: /, '').replace(/, stat .*$/, '')} (--data-dir, MONKEYCLAW_DATA_DIR)`);
  }
  if (!stat) throw new UsageError(`the data dir ${dir} is a link to ${readlinkSync(dir)}, which does not exist (--data-dir, MONKEYCLAW_DATA_DIR)`);
  if (!stat.isDirectory()) throw new UsageError(`the data dir ${dir} is not a directory (--data-dir, MONKEYCLAW_DATA_DIR)`);
  // Before any command reads or writes there: a directory others can write may hold a database they put there, or
  // a link where a lock file goes. Only doctor, which reports it, goes on.
  const exposure = dataDirVerdict(dir);
  if (!exposure.ok && use.exposed !== 'allow') throw new UsageError(`the data dir: ${exposure.detail}`);
  return dir;
}

/**
 * Creates the directory and its missing parents one at a time. Node's `mkdirSync(…, {recursive: true})` retries
 * for ever where the kernel refuses a new entry without saying it exists (under /proc): a mistyped flag must end
 * in an error naming it, not a process spinning.
 */
function createMissing(dir: string): void {
  const missing: string[] = [];
  for (let at = dir; !existsSync(at) && dirname(at) !== at; at = dirname(at)) missing.unshift(at);
  for (const path of missing) {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      if (code === 'EEXIST') continue; // made meanwhile by another command; what it is gets checked next
      const reason = message.replace(/^[A-Z]+: /, '').replace(/, mkdir .*$/, '');
      const where = path === dir ? '' : `${path}: `;
      throw new UsageError(`cannot create the data dir ${dir}: ${where}${reason} (--data-dir, MONKEYCLAW_DATA_DIR)`);
    }
  }
}

export const dbFile = (dataDir: string): string => join(dataDir, 'monkeyclaw.db');

/** What every process opens: config, data directory, store (migrated), its credentials, queue. */
export interface Runtime {
  config: Config;
  configSource: string;
  dataDir: string;
  store: SqliteStore;
  queue: QueueDriver;
  queueConfig: QueueConfig;
  resolve: Resolver;
  redactor: Redactor;
  /** Connector processes only: the key to their own sealed state. */
  stateKey?: Buffer;
  close(): Promise<void>;
}

/** Roles that run a command and exit; workers and connectors wait for their queue instead (supervised, restarted). */
const ONE_SHOT_ROLES = new Set(['chat', 'cli']);

/** `role` decides which credentials the process may hold: `worker`, `chat`, `connector:<name>`. */
export async function openRuntime(options: GlobalOptions, role: string): Promise<Runtime> {
  const { config, source } = loadConfig(options.config);
  const dataDir = resolveDataDir(options);
  const redactor = processRedactor;
  const store = new SqliteStore(dbFile(dataDir), { redactor });
  try {
    await store.migrate();
    const credentials = await loadCredentials(config, role, { dataDir, store });
    // A command run once says what failed in its own words: no log lines of Redis errors before them.
    const queue = await openQueue(credentials.queue, dataDir, credentials.resolve, store, { logErrors: !ONE_SHOT_ROLES.has(role) });
    // A command run once (chat, dlq) says at once that Redis is away, instead of waiting for it without a word.
    if (ONE_SHOT_ROLES.has(role)) await queue.ping().catch(async (error: Error) => {
      await queue.close();
      throw new Error(`cannot reach the queue: ${error.message}`);
    });
    return {
      config,
      configSource: source,
      dataDir,
      store,
      queue,
      queueConfig: credentials.queue,
      resolve: credentials.resolve,
      redactor,
      ...(credentials.stateKey ? { stateKey: credentials.stateKey } : {}),
      close: async () => {
        await queue.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

export async function openQueue(q: QueueConfig, dataDir: string, resolveRef: Resolver, store: Pick<Store, 'queuePrefix'>, { logErrors = true } = {}): Promise<QueueDriver> {
  if (q.driver === 'embedded') return new EmbeddedDriver({ file: dbFile(dataDir), leaseMs: q.leaseMs });
  // Loaded only when chosen, so the embedded default never pays for the Redis client.
  const { BullmqDriver } = await import('../queues/bullmq.js');
  const url = resolveRef(q.redisUrl, 'queue.redisUrl');
  // A URL from the vault or the environment was not checked with the config: ioredis reads anything else as a socket path.
  if (!/^rediss?:\/\//i.test(url)) throw new ConfigError(`queue.redisUrl: ${q.redisUrl} does not hold a redis:// or rediss:// URL`);
  const prefix = await redisPrefix(q, store);
  // Not logged is not the driver's fallback either (console.error, unthrottled): the command says it in its own words.
  const errors = logErrors ? queueErrorLog() : { onError: () => undefined };
  return new BullmqDriver({ url, prefix, partitions: q.partitions, leaseMs: q.leaseMs, ...errors });
}

/** This data dir's key prefix on Redis: the config's, else its own (so gateways sharing a Redis keep apart). */
const redisPrefix = async (q: Extract<QueueConfig, { driver: 'bullmq' }>, store: Pick<Store, 'queuePrefix'>): Promise<string> => q.prefix ?? (await store.queuePrefix());

/**
 * Redis errors as structured log lines, at most one per 10 s with a count of those held back: with Redis gone,
 * ioredis reports every reconnect attempt, and the log would be nothing else. Its return is said once too.
 */
function newQueueErrorLog(): { onError: (error: Error) => void; onRecovered: () => void } {
  const log = createLogger('queue', 'info');
  let last = 0;
  let held = 0;
  let since: number | undefined;
  return {
    onError: (error) => {
      const now = Date.now();
      since ??= now;
      if (now - last < 10_000) return void held++;
      log.error({ error: error.message, ...(held ? { alsoSince: held } : {}) }, 'queue backend error (Redis)');
      last = now;
      held = 0;
    },
    onRecovered: () => {
      if (since === undefined) return;
      log.info({ unreachableMs: Date.now() - since, ...(held ? { alsoSince: held } : {}) }, 'queue backend reachable again (Redis)');
      since = undefined;
      last = 0;
      held = 0;
    },
  };
}

let processQueueLog: ReturnType<typeof newQueueErrorLog> | undefined;
/** One per process: the queue's Redis connection and the rate limiter's fail and come back together, said once. */
const queueErrorLog = () => (processQueueLog ??= newQueueErrorLog());

/**
 * The rate-limit buckets live where the queue does, so every worker shares them; on Redis under the queue's own
 * prefix, so gateways sharing a Redis never throttle each other (a data dir that ran before keeps `monkeyclaw`).
 */
export async function openLimiter(rt: Pick<Runtime, 'queueConfig' | 'dataDir' | 'resolve' | 'store'>): Promise<{ limiter: LimiterStore; close(): Promise<void> }> {
  const q = rt.queueConfig;
  if (q.driver === 'embedded') {
    const limiter = new SqliteLimiter(dbFile(rt.dataDir));
    return { limiter, close: () => limiter.close() };
  }
  const [{ Redis }, { RedisLimiter }, { quitRedis }] = await Promise.all([import('ioredis'), import('../queues/redis-limiter.js'), import('../queues/redis-quit.js')]);
  const redis = new Redis(rt.resolve(q.redisUrl, 'queue.redisUrl'), { lazyConnect: false });
  const report = queueErrorLog();
  redis.on('error', report.onError);
  redis.on('ready', report.onRecovered);
  return { limiter: new RedisLimiter(redis, { prefix: `${await redisPrefix(q, rt.store)}:rl:` }), close: () => quitRedis(redis) };
}

/** Backends come from the core factory; pass the runtime's resolver (`rt.resolve`), else `env:` references only. */
export function createBackend(
  name: string,
  config: Config,
  resolve: ResolveRef = (ref, field) => resolveEnvRef(ref, process.env, field),
): Backend {
  return createCoreBackend(name, config, resolve);
}

/**
 * Renders one assistant into its runtime form: plug pipelines initialized once, backends built. Who is answered is
 * not a pipeline's choice: `access` then `group-gate` run before every inbound plug but the rate limits in front of
 * them (moved there, or added when left out), so `access.deny`, the group allowlist, the DM policy and "in a group,
 * only when addressed" (`requireMention`) hold whatever the pipeline says. A plug after them never hears group
 * chatter: a budget notice, a command's answer or a backend call for a message nobody addressed to the assistant.
 */
export function buildAssistant(name: string, a: AssistantConfig, config: Config, registry: ReadonlyMap<string, AnyPlug>, services: PlugServices, resolve: ResolveRef): RuntimeAssistant {
  const pipelines = buildPipelines(name, a, registry, services);
  const inbound = pipelines.inbound;
  const take = (plug: string) => {
    const at = inbound.findIndex((step) => step.plug.name === plug);
    return at >= 0 ? inbound.splice(at, 1)[0]! : initStep(plug, registry, services);
  };
  const gates = [take('access'), take('group-gate')];
  const limits = inbound.findIndex((step) => step.plug.name !== 'rate-limit');
  inbound.splice(limits < 0 ? inbound.length : limits, 0, ...gates);
  return { name, config: a, pipelines, backends: [a.backend].flat().map((b) => createBackend(b, config, resolve)) };
}

/** Renders each of the config file's assistants into its runtime form. */
export function buildAssistants(config: Config, registry: ReadonlyMap<string, AnyPlug>, services: PlugServices, resolve: ResolveRef): Map<string, RuntimeAssistant> {
  return new Map(Object.entries(config.assistants).map(([name, a]) => [name, buildAssistant(name, a, config, registry, services, resolve)]));
}

/** The first candidate that exists, else the first assistant of all. */
export function pickAssistant(candidates: string[], assistants: ReadonlyMap<string, RuntimeAssistant>): RuntimeAssistant {
  for (const name of candidates) {
    const found = assistants.get(name);
    if (found) return found;
  }
  const first = assistants.values().next();
  if (first.done) throw new ConfigError('assistants: at least one assistant is required');
  return first.value;
}

/** Which assistant answers an event, from the config file alone (no workspace settings): see assistantCandidates. */
export function assistantResolver(config: Config, assistants: Map<string, RuntimeAssistant>) {
  if (assistants.size === 0) throw new ConfigError('assistants: at least one assistant is required');
  return (event: ChannelEvent): RuntimeAssistant => pickAssistant(assistantCandidates(config, event), assistants);
}
