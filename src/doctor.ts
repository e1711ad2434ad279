import pino from 'pino';
import { ANTHROPIC_DEFAULT_BASE_URL } from '../core/backends/anthropic.js';
import { createBackend } from '../core/backends/index.js';
import type { Config } from '../core/config.js';
import { withTimeout } from '../core/deadline.js';
import { plainNetError } from '../core/net-errors.js';
import { noSealedState, sealedState } from '../core/sealed-state.js';
import type { SqliteStore } from '../core/sqlite/store.js';
import { loadConnector } from './connectors.js';
import { NO_MASTER_KEY, refsFor, resolveRefs, resolverFrom, stateKeyFor } from './credentials.js';
import { terminalLine } from './terminal-text.js';
import { lockHolder, supervisorLock } from './lock.js';
import { CHILD_RECORDS, childRecordSchema } from './supervisor.js';

/** One line of `doctor`: what was checked, whether it is fine, and why, in plain words. */
export interface Verdict {
  ok: boolean;
  /** Works, with a risk the user should know of: printed as WARN, and doctor still exits 0. */
  warn?: boolean;
  what: string;
  detail: string;
}

/** A connector's own credentials, as its process would hold them. */
export interface ConnectorCredentials {
  values: Record<string, string>;
  stateKey?: Buffer | undefined;
}

/** Doctor resolves only what the checked part needs; the embedded queue stands in so no queue URL is resolved. */
const NO_QUEUE = { driver: 'embedded', leaseMs: 30_000 } as const;

/** Builds the backend with its own credentials and asks it for a cheap verdict (list models, find the executable). */
export async function checkBackend(name: string, config: Config, dataDir: string, store: SqliteStore): Promise<Verdict> {
  const what = `backend ${name}`;
  try {
    const backendConfig = { ...config, backends: { [name]: config.backends[name]! } };
    const values = await resolveRefs(refsFor(backendConfig, NO_QUEUE, 'worker'), dataDir, store, 'doctor', config);
    const backend = createBackend(name, config, resolverFrom(values));
    if (!backend.check) return { ok: true, what, detail: 'needs nothing' };
    const verdict = await withTimeout(backend.check(AbortSignal.timeout(10_000)), 11_000, 'no answer within 10 s');
    return typeof verdict === 'string' ? { ok: true, what, detail: verdict } : { ok: true, warn: true, what, detail: verdict.detail };
  } catch (error) {
    const at = endpointOf(config, name);
    const said = at && reachFailure(error, at);
    if (said) return { ok: false, what, detail: said };
    // A backend's own errors name it already ("backend cc: … is missing"): the line says it once.
    const message = (error as Error).message;
    return { ok: false, what, detail: message.startsWith(`${what}: `) ? message.slice(what.length + 2) : message };
  }
}

/** Where an HTTP backend is reached, to say in plain words what failed on the way there. */
function endpointOf(config: Config, name: string): { host: string; port: number } | undefined {
  const b = config.backends[name];
  const url = b?.type === 'openai' ? b.baseUrl : b?.type === 'anthropic' ? (b.baseUrl ?? ANTHROPIC_DEFAULT_BASE_URL) : undefined;
  if (!url) return undefined;
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80) };
}

/** The check's own time running out, or a socket error under the SDK's "network error": said with the address. */
function reachFailure(error: unknown, at: { host: string; port: number }): string | undefined {
  if ((error as { name?: unknown }).name === 'TimeoutError') return `no answer from ${at.host}:${at.port} within 10 s`;
  let cause: unknown = error;
  for (let depth = 0; cause && depth < 5; depth++) {
    const plain = plainNetError(cause, at);
    if (plain) return plain;
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A connector's credentials resolved in this process from the vault (each read audited as `doctor`). */
export async function resolveConnectorCredentials(name: string, config: Config, dataDir: string, store: SqliteStore): Promise<ConnectorCredentials> {
  const values = await resolveRefs(refsFor(config, NO_QUEUE, `connector:${name}`), dataDir, store, 'doctor', config);
  return { values, stateKey: stateKeyFor(`connector:${name}`, dataDir) };
}

/**
 * Builds the connector with its own credentials and asks it (identity call, events arriving, conflicts). Safe
 * beside a running gateway: no connector's check receives or acknowledges anything. `credentials` is a function so
 * that a failure to resolve them becomes a verdict like any other.
 */
export async function checkConnector(
  name: string,
  config: Config,
  local: { dataDir: string; store: SqliteStore; credentials: () => Promise<ConnectorCredentials> },
): Promise<Verdict[]> {
  const what = `connector ${name}`;
  try {
    const create = await loadConnector(name);
    if (!create) return [{ ok: false, what, detail: 'enabled, but not available in this build' }];
    const { values, stateKey } = await local.credentials();
    const { store, dataDir } = local;
    const connector = create({
      name,
      config: (config.connectors as Record<string, unknown>)[name] as never,
      gateway: config,
      resolve: resolverFrom(values),
      store,
      access: store.accessStore(),
      sealed: stateKey ? sealedState(store, stateKey) : noSealedState(NO_MASTER_KEY),
      log: pino({ level: 'silent' }),
      dataDir,
      now: Date.now,
    });
    if (!connector.check) return [{ ok: true, what, detail: 'configured' }];
    const verdicts = await withTimeout(connector.check(), 15_000, 'no answer within 15 s');
    // A check that names its platform already ("telegram token") is not prefixed with the name twice.
    return verdicts.map((v) => ({ ok: v.ok, what: v.what.startsWith(`${name} `) ? `connector ${v.what}` : `${what} ${v.what}`, detail: v.detail }));
  } catch (error) {
    return [{ ok: false, what, detail: (error as Error).message }];
  }
}

/** The line `doctor` prints for a verdict: one line, whatever a platform's error said (control characters shown). */
export const verdictLine = (v: Verdict): string => `${!v.ok ? 'FAIL' : v.warn ? 'WARN' : 'ok  '}  ${terminalLine(v.what)}: ${terminalLine(v.detail)}`;

/**
 * What the running gateway's supervisor last recorded of each of its processes: a connector that cannot stay up
 * (a refused intent, a revoked token) passes the credential checks above and must still fail here, with the reason
 * it gave when it exited. Nothing when no gateway runs on the data dir.
 */
export async function supervisedVerdicts(dataDir: string, store: Pick<SqliteStore, 'listConnectorState'>): Promise<Verdict[]> {
  const supervisor = lockHolder(supervisorLock(dataDir));
  if (supervisor === undefined) return [];
  const rows = await store.listConnectorState(CHILD_RECORDS.connector, CHILD_RECORDS.prefix);
  return rows.flatMap(({ key, value }): Verdict[] => {
    const parsed = childRecordSchema.safeParse(value);
    if (!parsed.success || parsed.data.supervisor !== supervisor) return [];
    const { state, restarts, reason, retryEveryMs, pid } = parsed.data;
    const what = `process ${key.slice(CHILD_RECORDS.prefix.length)}`;
    const why = reason ? `; last exit: ${reason}` : '';
    // Said even where it fails: a process up this moment may have recovered, and whoever reads the line should know.
    const now = pid ? ` (running again as pid ${pid}, counted as failing until it stays up for a minute)` : '';
    switch (state) {
      case 'running':
      case 'starting':
        // Crashed more than once without staying up a minute: crash-looping, even if it runs this moment.
        if (restarts >= 2) return [{ ok: false, what, detail: `crash-looping: crashed ${restarts} times without staying up${now}${why}` }];
        return [{ ok: true, what, detail: `${state}${pid ? ` as pid ${pid}` : ''} under the gateway (pid ${supervisor})${restarts ? `, crashed once recently${why}` : ''}` }];
      case 'restarting':
        return [{ ok: false, what, detail: `crashed and is being restarted (${restarts} crashes without staying up)${why}` }];
      case 'failed':
        return [
          retryEveryMs
            ? { ok: false, what, detail: `keeps crashing (${restarts} crashes without staying up)${now}${why}; the gateway tries it again every ${Math.round(retryEveryMs / 1000)} s until it stays up` }
            : { ok: false, what, detail: `the gateway gave up on it${why}; fix the cause, then restart the gateway` },
        ];
      case 'stopped':
        return [];
    }
  });
}
