import { existsSync } from 'node:fs';
import { loadConfig } from '../config-file.js';
import { dbFile, openQueue, openRuntime, resolveDataDir, type GlobalOptions } from '../runtime.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import type { RecordedEntry } from '../../core/audit.js';
import { ConfigError, resolveQueue, type Config } from '../../core/config.js';
import { processRedactor } from '../../core/redactor.js';
import { DOCTOR_RESULT, MAX_REPORT_CHARS, sendToParent } from '../child-ipc.js';
import { isSupervised, receiveBootstrap, refsFor, resolveRefs, resolverFrom, type Bootstrap } from '../credentials.js';
import { withTimeout } from '../../core/deadline.js';
import { checkBackend, checkConnector, resolveConnectorCredentials, supervisedVerdicts, verdictLine, type ConnectorCredentials, type Verdict } from '../doctor.js';
import { dataDirVerdict } from '../data-dir-mode.js';
import { databaseWriteVerdict, diskSpaceVerdict } from '../storage-verdicts.js';
import { UsageError } from '../errors.js';
import { tlsVerdict } from '../tls.js';
import { failed, out } from './with-store.js';
import { AVAILABLE_CONNECTORS } from '../connectors.js';
import { terminalLine } from '../terminal-text.js';

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

export async function auditVerify(options: GlobalOptions & { expect?: RecordedEntry }): Promise<number> {
  const dataDir = resolveDataDir(options);
  const store = new SqliteStore(dbFile(dataDir));
  try {
    await store.migrate();
    const result = await store.verifyAudit(options.expect);
    // Without its triggers the log can be edited, and entries cut off its end leave a valid chain behind; with a
    // trigger of someone else's, new entries can be kept out of it.
    const untrusted = await store.untrustedAuditTriggers();
    if (result.ok && untrusted.length > 0) {
      out(`audit log UNGUARDED: its triggers are not the append-only ones the gateway made (${untrusted.join(', ')}); the chain of ${result.entries} entries holds, but entries may have been cut off its end or kept out of it: check with --expect`);
      return 1;
    }
    if (result.ok) {
      // The head, kept somewhere the data dir's writers cannot reach, is what later shows entries cut off the end.
      const held = options.expect ? `, entry ${options.expect.seq} as recorded` : '';
      // An empty log has no entry to record yet; and a mistyped --data-dir must not read as a clean bill.
      const record = result.entries > 0 ? ` (record ${result.headSeq}:${result.head} and check with --expect)` : ` (nothing has run on ${dataDir} yet: is that the data dir?)`;
      out(`audit log ok: ${result.entries} entries${held}, head ${result.head}${record}`);
      return 0;
    }
    out(`audit log BROKEN at entry ${result.badSeq}: ${result.reason} (${result.entries} entries verified before it)`);
    return 1;
  } finally {
    await store.close();
  }
}

/**
 * One field of a tail line: never empty and never a tab or line break of its own, so each line still has six
 * fields when a damaged or tampered row holds NULL, nothing, or control characters where text was due.
 */
const tailCell = (value: unknown): string => {
  const text = value === null || value === undefined ? '' : String(value);
  return text === '' ? '-' : terminalLine(text);
};

export async function auditTail(options: GlobalOptions & { n: number }): Promise<number> {
  const store = new SqliteStore(dbFile(resolveDataDir(options)));
  try {
    await store.migrate();
    for (const e of await store.auditTail(options.n)) out([e.seq, e.at, e.kind, e.actor, e.subject, e.data].map(tailCell).join('\t'));
    return 0;
  } finally {
    await store.close();
  }
}

export async function dlqList(options: GlobalOptions): Promise<number> {
  const rt = await openRuntime(options, 'cli');
  try {
    const dead = await rt.queue.deadLetters(1000);
    // On stderr: stdout lists one line per job, and an empty list is no lines (as pair and apikey).
    if (dead.length === 0) process.stderr.write('no dead-lettered jobs\n');
    // Through the redactor: a dead letter keeps the error as it was thrown, and that may quote a credential.
    // One line each, whatever a platform's error (quoted in it) holds; every field as text, whatever a damaged entry holds.
    for (const d of dead) out([d.id, d.queue, d.jobId, `attempts=${d.attempts}`, d.deadAt, rt.redactor.redact(String(d.error).replace(/\s+/g, ' ')).slice(0, 200)].map((f) => terminalLine(String(f))).join('\t'));
    return 0;
  } finally {
    await rt.close();
  }
}

export async function dlqRetry(id: string, options: GlobalOptions): Promise<number> {
  const rt = await openRuntime(options, 'cli');
  try {
    if (!(await rt.queue.retryDead(id))) {
      failed(`no dead-lettered job ${id}`);
      return 1;
    }
    await rt.store.appendAudit([{ kind: 'dlq.retried', actor: 'cli', subject: id }]);
    out(`job ${id} is queued again`);
    return 0;
  } finally {
    await rt.close();
  }
}

/** Plain-words checks of everything the gateway needs; non-zero exit when any fails. */
export async function doctor(options: GlobalOptions & { connector?: string }): Promise<number> {
  const { config, source } = loadConfig(options.config);
  if (options.connector !== undefined) return doctorConnector(options.connector, config, source, options);
  const results: Verdict[] = [{ ok: true, what: 'config', detail: `valid (${source})` }];
  const dataDir = resolveDataDir(options, { exposed: 'allow' }); // reported below, as a verdict
  const exposure = dataDirVerdict(dataDir);
  if (!exposure.ok) {
    // Not opened, let alone created or migrated, where others could have put the database or master key.
    results.push(exposure, { ok: false, what: 'database', detail: 'not opened: fix the data dir first (every other command refuses it)' });
    return printVerdicts(results);
  }
  let store: SqliteStore;
  try {
    store = new SqliteStore(dbFile(dataDir));
  } catch (error) {
    // Nothing else can be checked without it (the vault holds the credentials), but this much is said plainly.
    results.push({ ok: false, what: 'database', detail: (error as Error).message }); // it names the file
    // A full disk is a likely reason a file will not open: said by name, where there is a directory to ask about.
    if (existsSync(dataDir)) results.push(diskSpaceVerdict(dataDir));
    return printVerdicts(results);
  }
  const checks = store.fileChecks();
  try {
    // Like every other command (and `start`), doctor brings a fresh or older data dir up to date first: a
    // migration that fails is what it reports, not one that has simply not run yet.
    try {
      const applied = await store.migrate();
      const damage = await checks.integrityProblems();
      const detail = applied.length ? `applied ${applied.join(', ')}` : 'up to date';
      if (damage.length === 0) results.push({ ok: true, what: 'database', detail: `${dbFile(dataDir)}: ${detail}` });
      else {
        const more = damage.length > 1 ? ` (and ${damage.length - 1} more)` : '';
        results.push({ ok: false, what: 'database', detail: `${dbFile(dataDir)} is damaged: ${damage[0]}${more}; restore it from a backup` });
      }
    } catch (error) {
      results.push({ ok: false, what: 'database', detail: `cannot migrate ${dbFile(dataDir)}: ${(error as Error).message}` });
    }
    results.push(await databaseWriteVerdict(dbFile(dataDir), (ms) => checks.probeWrite(ms)));
    results.push(diskSpaceVerdict(dataDir));
    results.push(exposure);
    results.push(tlsVerdict(config.server, dataDir));
    const queueConfig = resolveQueue(config, process.env);
    try {
      const values = await resolveRefs(refsFor(config, queueConfig, 'cli'), dataDir, store, 'doctor', { ...config, queue: queueConfig });
      const queue = await openQueue(queueConfig, dataDir, resolverFrom(values), store, { logErrors: false });
      try {
        await queue.ping();
        const keys = 'prefix' in queue ? ` (Redis keys under ${String(queue.prefix)})` : '';
        results.push({ ok: true, what: 'queue', detail: `${queue.name} driver answers${keys}` });
        if (queue.persistence) results.push(persistenceVerdict(await queue.persistence()));
        if (queue.stranded) results.push(strandedVerdict(await withTimeout(queue.stranded(), 10_000, 'the partition check timed out')));
      } finally {
        await withTimeout(queue.close(), 2_000, 'close timed out').catch(() => undefined);
      }
    } catch (error) {
      // A setting that cannot work is said as such, naming its field, not as an unreachable queue.
      results.push({ ok: false, what: 'queue', detail: error instanceof ConfigError ? error.message : `cannot reach the queue: ${(error as Error).message}` });
    }
    // Side by side: one backend that never answers costs its 10 s once, not once per backend after it.
    results.push(...(await Promise.all(Object.keys(config.backends).map((name) => checkBackend(name, config, dataDir, store)))));
    for (const [name, c] of Object.entries(config.connectors)) {
      if (c?.enabled) {
        results.push(...(await checkConnector(name, config, { dataDir, store, credentials: () => resolveConnectorCredentials(name, config, dataDir, store) })));
      }
    }
    results.push(...(await supervisedVerdicts(dataDir, store)));
  } finally {
    await store.close();
  }
  return printVerdicts(results);
}

function printVerdicts(results: Verdict[]): number {
  // A platform can quote a credential back in an error (a token in the URL it refused); none reaches the terminal.
  for (const v of results) out(processRedactor.redact(verdictLine(v)));
  return results.every((v) => v.ok) ? 0 : 1;
}

/**
 * `doctor --connector NAME`: the config and that one connector. Started by the supervisor (the dashboard's doctor
 * button) it takes the connector's credentials over IPC, exactly as the connector's own process does, and answers
 * with its verdicts over IPC too.
 */
async function doctorConnector(name: string, config: Config, source: string, options: GlobalOptions): Promise<number> {
  const section = (config.connectors as Record<string, { enabled?: boolean } | undefined>)[name];
  if (!AVAILABLE_CONNECTORS.has(name)) throw new UsageError(`no connector is called "${name}" (one of ${[...AVAILABLE_CONNECTORS].join(', ')})`);
  if (!section?.enabled) throw new UsageError(`connector "${name}" is not enabled in the config (connectors.${name}.enabled)`);
  const dataDir = resolveDataDir(options, { exposed: 'allow' });
  const supervised = isSupervised();
  const exposure = dataDirVerdict(dataDir);
  let results: Verdict[] = [{ ok: true, what: 'config', detail: `valid (${source})` }];
  // As the full doctor: nothing is opened, and no vault read, where others could have put the database or key.
  if (!exposure.ok) results.push(exposure, { ok: false, what: `connector ${name}`, detail: 'not checked: fix the data dir first (every other command refuses it)' });
  else {
    const store = new SqliteStore(dbFile(dataDir));
    try {
      // As the full doctor does: a fresh or older data dir is brought up to date before a check reads it.
      await store.migrate();
      const credentials = async () => {
        const got = supervised ? fromBootstrap(await receiveBootstrap()) : await resolveConnectorCredentials(name, config, dataDir, store);
        for (const v of Object.values(got.values)) processRedactor.addSecret(v);
        return got;
      };
      results.push(...(await checkConnector(name, config, { dataDir, store, credentials })));
    } finally {
      await store.close();
    }
  }
  // A platform can quote a credential back in an error; none leaves this process.
  results = results.map((v) => ({ ok: v.ok, ...(v.warn ? { warn: true } : {}), what: v.what.slice(0, 200), detail: processRedactor.redact(v.detail).slice(0, 4 * MAX_REPORT_CHARS) }));
  if (supervised) await sendToParent({ type: DOCTOR_RESULT, verdicts: results });
  else for (const v of results) out(verdictLine(v));
  return results.every((v) => v.ok) ? 0 : 1;
}

const fromBootstrap = (b: Bootstrap): ConnectorCredentials => ({ values: b.values, stateKey: b.stateKey ? Buffer.from(b.stateKey, 'base64') : undefined });

/** Jobs in partition queues that the configured number of partitions leaves unread. */
function strandedVerdict(stranded: Array<{ queue: string; partition: number; jobs: number }>): Verdict {
  if (stranded.length === 0) return { ok: true, what: 'queue partitions', detail: 'no job waits outside the partition queues read now' };
  const list = stranded.map((s) => `${s.queue} (${s.jobs})`).join(', ');
  const highest = Math.max(...stranded.map((s) => s.partition));
  return {
    ok: false,
    what: 'queue partitions',
    detail: `jobs wait in partition queues beyond queue.partitions, which nothing reads: ${list}; set queue.partitions back to at least ${highest + 1} until they are done`,
  };
}

/**
 * Whether the Redis under the queue survives its own restart with the messages it holds. One that does not still
 * carries every message while it runs: a warning, not a failure, so a working gateway on a scratch Redis passes.
 */
function persistenceVerdict(p: { durable: boolean; detail: string } | undefined): Verdict {
  if (!p) return { ok: true, warn: true, what: 'queue persistence', detail: 'Redis does not say how it keeps data (CONFIG refused): make sure it has an append-only file' };
  if (p.durable) return { ok: true, what: 'queue persistence', detail: `Redis keeps queued messages across a restart (${p.detail})` };
  return { ok: true, warn: true, what: 'queue persistence', detail: `a Redis restart would lose queued messages (${p.detail}): run it with appendonly yes` };
}
