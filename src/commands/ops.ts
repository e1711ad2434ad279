import { loadConfig } from '../config-file.js';
import { dbFile, openQueue, openRuntime, resolveDataDir, type GlobalOptions } from '../runtime.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { resolveQueue, type Config } from '../../core/config.js';
import { createBackend } from '../../core/backends/index.js';
import pino from 'pino';
import { loadConnector } from '../connectors.js';
import { refsFor, resolveRefs, resolverFrom, stateKeyFor } from '../credentials.js';
import { noSealedState, sealedState } from '../../core/sealed-state.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  return Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref())]);
}

export async function migrateCommand(options: GlobalOptions): Promise<number> {
  loadConfig(options.config);
  const store = new SqliteStore(dbFile(resolveDataDir(options)));
  try {
    const applied = await store.migrate();
    out(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return 0;
  } finally {
    await store.close();
  }
}

export async function auditVerify(options: GlobalOptions): Promise<number> {
  const store = new SqliteStore(dbFile(resolveDataDir(options)));
  try {
    await store.migrate();
    const result = await store.verifyAudit();
    if (result.ok) {
      out(`audit log ok: ${result.entries} entries, head ${result.head}`);
      return 0;
    }
    out(`audit log BROKEN at entry ${result.badSeq}: ${result.reason} (${result.entries} entries verified before it)`);
    return 1;
  } finally {
    await store.close();
  }
}

export async function auditTail(options: GlobalOptions & { n: number }): Promise<number> {
  const store = new SqliteStore(dbFile(resolveDataDir(options)));
  try {
    await store.migrate();
    for (const e of await store.auditTail(options.n)) {
      out(`${e.seq}\t${e.at}\t${e.kind}\t${e.actor}\t${e.subject ?? '-'}\t${e.data}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

export async function dlqList(options: GlobalOptions): Promise<number> {
  const rt = await openRuntime(options, 'cli');
  try {
    const dead = await rt.queue.deadLetters(1000);
    if (dead.length === 0) out('no dead-lettered jobs');
    for (const d of dead) out(`${d.id}\t${d.queue}\t${d.jobId}\tattempts=${d.attempts}\t${d.deadAt}\t${d.error.replace(/\s+/g, ' ').slice(0, 200)}`);
    return 0;
  } finally {
    await rt.close();
  }
}

export async function dlqRetry(id: string, options: GlobalOptions): Promise<number> {
  const rt = await openRuntime(options, 'cli');
  try {
    if (!(await rt.queue.retryDead(id))) {
      out(`no dead-lettered job ${id}`);
      return 1;
    }
    await rt.store.appendAudit([{ kind: 'dlq.retried', actor: 'cli', subject: id }]);
    out(`job ${id} is queued again`);
    return 0;
  } finally {
    await rt.close();
  }
}

/** Builds the backend with its own credentials and asks it for a cheap verdict (list models, find the executable). */
async function checkBackend(name: string, config: Config, dataDir: string, store: SqliteStore): Promise<[boolean, string, string]> {
  const what = `backend ${name}`;
  try {
    const backendConfig = { ...config, backends: { [name]: config.backends[name]! } };
    const values = await resolveRefs(refsFor(backendConfig, { driver: 'embedded', leaseMs: 30_000 }, 'worker'), dataDir, store, 'doctor');
    const backend = createBackend(name, config, resolverFrom(values));
    if (!backend.check) return [true, what, 'needs nothing'];
    return [true, what, await withTimeout(backend.check(AbortSignal.timeout(10_000)), 11_000, 'no answer within 10 s')];
  } catch (error) {
    return [false, what, (error as Error).message];
  }
}

/**
 * Builds the connector with its own credentials and asks it (identity call, events arriving, conflicts). Safe
 * beside a running gateway: no connector's check receives or acknowledges anything.
 */
async function checkConnector(name: string, config: Config, dataDir: string, store: SqliteStore): Promise<Array<[boolean, string, string]>> {
  const what = `connector ${name}`;
  try {
    const create = await loadConnector(name);
    if (!create) return [[false, what, 'enabled, but not available in this build']];
    const values = await resolveRefs(refsFor(config, { driver: 'embedded', leaseMs: 30_000 }, `connector:${name}`), dataDir, store, 'doctor');
    const connector = create({
      name,
      config: (config.connectors as Record<string, unknown>)[name] as never,
      gateway: config,
      resolve: resolverFrom(values),
      store,
      sealed: ((key) => (key ? sealedState(store, key) : noSealedState('no master key')))(stateKeyFor(`connector:${name}`, dataDir)),
      log: pino({ level: 'silent' }),
      dataDir,
      now: Date.now,
    });
    if (!connector.check) return [[true, what, 'configured']];
    const verdicts = await withTimeout(connector.check(), 15_000, 'no answer within 15 s');
    return verdicts.map((v): [boolean, string, string] => [v.ok, `${what} ${v.what}`, v.detail]);
  } catch (error) {
    return [[false, what, (error as Error).message]];
  }
}

/** Plain-words checks of everything the gateway needs; non-zero exit when any fails. */
export async function doctor(options: GlobalOptions): Promise<number> {
  const { config, source } = loadConfig(options.config);
  const results: Array<[boolean, string, string]> = [[true, 'config', `valid (${source})`]];
  const dataDir = resolveDataDir(options);
  const store = new SqliteStore(dbFile(dataDir));
  try {
    const pending = await store.pendingMigrations();
    results.push(pending.length ? [false, 'database', `migrations pending (${pending.join(', ')}): run \`monkeyclaw migrate\``] : [true, 'database', `${dbFile(dataDir)} is up to date`]);
    try {
      const queueConfig = resolveQueue(config, process.env);
      const values = await resolveRefs(refsFor(config, queueConfig, 'cli'), dataDir, store, 'doctor');
      const queue = await openQueue(queueConfig, dataDir, resolverFrom(values));
      try {
        await withTimeout(queue.ping(), 5_000, 'no answer within 5 s');
        results.push([true, 'queue', `${queue.name} driver answers`]);
      } finally {
        await withTimeout(queue.close(), 2_000, 'close timed out').catch(() => undefined);
      }
    } catch (error) {
      results.push([false, 'queue', `cannot reach the queue: ${(error as Error).message}`]);
    }
    for (const name of Object.keys(config.backends)) results.push(await checkBackend(name, config, dataDir, store));
    for (const [name, c] of Object.entries(config.connectors)) {
      if (c?.enabled) results.push(...(await checkConnector(name, config, dataDir, store)));
    }
  } finally {
    await store.close();
  }
  for (const [ok, what, detail] of results) out(`${ok ? 'ok  ' : 'FAIL'}  ${what}: ${detail}`);
  return results.every(([ok]) => ok) ? 0 : 1;
}
