import { randomUUID } from 'node:crypto';
import type { WebhookForwarder } from '../http/webhooks.js';
import { parseWebhookAnswer, WEBHOOK_REQUEST, type WebhookAnswer } from '../webhook-ipc.js';
import { loadConfig } from '../config-file.js';
import { startHttpServer } from '../http.js';
import { plainHttpVerdict } from '../tls.js';
import { acquireLock, supervisorLock } from '../lock.js';
import { dataDirVerdict } from '../data-dir-mode.js';
import { createLogger } from '../logger.js';
import { dbFile, openQueue, resolveDataDir, type GlobalOptions } from '../runtime.js';
import { forgetGatewayQueue, recordGatewayQueue } from '../gateway-queue.js';
import { settlesWithin } from '../../core/deadline.js';
import { allAssistantNames } from '../../core/assistant-settings.js';
import { resolveQueue } from '../../core/config.js';
import { builtinPlugs } from '../../plugs/index.js';
import { processRedactor } from '../../core/redactor.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { BOOTSTRAP, isSupervised, openVault, refsFor, resolveRefs, resolverFrom, stateKeyFor, type Bootstrap } from '../credentials.js';
import { TurnClient } from '../http/turns.js';
import { QR_KEY } from '../../connectors/whatsapp/link-words.js';
import { sealedState } from '../../core/sealed-state.js';
import { turnDeadline } from '../../core/turn-deadline.js';
import { watchDbFile } from '../db-file-watch.js';
import { Supervisor } from '../supervisor.js';
import { AVAILABLE_CONNECTORS } from '../connectors.js';
import { parseDoctorResult, parseFatalReport } from '../child-ipc.js';
import type { Verdict } from '../doctor.js';
import { isOwnerDecision } from '../../core/session-worker.js';
import { RefusalReporter } from '../../core/refusals.js';

/**
 * Resolves once SIGTERM or SIGINT arrives, or SIGHUP (the terminal that ran it closed): each is a stop, drained, not
 * the instant death SIGHUP otherwise is. A closing terminal often hangs up twice (the shell passes one on, then the
 * kernel sends its own), so SIGHUP keeps its listener: a second one must not end the drain. A supervised child
 * ignores SIGHUP from its first moment (see cli.ts): its supervisor stops it in order.
 */
export const terminated = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    if (!isSupervised()) process.on('SIGHUP', () => resolve('SIGHUP'));
  });

/**
 * Webhooks go to the connector's own process; only it can verify the platform's signature. A name no enabled
 * connector has is a 404: a 503 would have the caller retry for ever.
 */
function webhookForwarder(supervisor: Supervisor, enabled: readonly string[]): WebhookForwarder {
  return async (name, request) => {
    if (!enabled.includes(name)) return { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'unknown connector' }) };
    const isAnswer = (m: unknown): m is WebhookAnswer => parseWebhookAnswer(m) !== undefined;
    const answer = await supervisor.request(
      `connector:${name}`,
      { type: WEBHOOK_REQUEST, id: randomUUID(), method: request.method, path: request.path, headers: request.headers, body: request.body.toString('base64') },
      isAnswer,
    );
    if (!answer.ok) return { missing: answer.why };
    const parsed = parseWebhookAnswer(answer.answer)!;
    return { status: parsed.status, ...(parsed.headers ? { headers: parsed.headers } : {}), ...(parsed.body !== undefined ? { body: parsed.body } : {}) };
  };
}

const DOCTOR_TIMEOUT_MS = 25_000;

/**
 * The dashboard's doctor button: `doctor --connector NAME` in a child of its own, given that connector's
 * credentials as the connector's process is. No connector SDK enters this process, and a hung check is killed.
 */
function doctorRunner(supervisor: Supervisor, bootstrapFor: (role: string) => () => Promise<Bootstrap>) {
  return async (name: string): Promise<Verdict[]> => {
    const what = `connector ${name}`;
    const accept = (m: unknown): Verdict[] | undefined => {
      const report = parseFatalReport(m);
      return parseDoctorResult(m) ?? (report !== undefined ? [{ ok: false, what, detail: report }] : undefined);
    };
    try {
      const spec = { name: `doctor:${name}`, args: ['doctor', '--connector', name], bootstrap: bootstrapFor(`connector:${name}`) };
      return (await supervisor.runOnce(spec, accept, DOCTOR_TIMEOUT_MS)) ?? [{ ok: false, what, detail: `the check gave no answer within ${DOCTOR_TIMEOUT_MS / 1000} s` }];
    } catch (error) {
      return [{ ok: false, what, detail: `cannot run the check: ${(error as Error).message}` }];
    }
  };
}

/**
 * Past this, shutdown stops waiting (DESIGN: exit within 10 s of SIGTERM). The rest is for the stop's audit entry,
 * closing the database and the process's exit, which took up to a second on a loaded 2-core host (measured: 9.95 s
 * in all when this was 9 s; 10.1–10.5 s, with Redis gone, when it was 8.5 s).
 */
const SHUTDOWN_MS = 8_000;

/** `monkeyclaw start`: migrate, then supervise workers and enabled connectors, and serve HTTP. Never prompts. */
export async function start(options: GlobalOptions): Promise<number> {
  const { config, source } = loadConfig(options.config);
  // A data dir others can write is refused here, before its lock is taken (resolveDataDir).
  const dataDir = resolveDataDir(options);
  const release = acquireLock(supervisorLock(dataDir));
  const log = createLogger('supervisor', 'info');
  const exposure = dataDirVerdict(dataDir);
  if (exposure.warn) log.warn({ dataDir }, exposure.detail);
  const redactor = processRedactor;
  const store = new SqliteStore(dbFile(dataDir), { redactor });
  try {
    const applied = await store.migrate();
    await forgetGatewayQueue(store);
    // The vault key is created here on first start (0600), and a wrong or exposed key stops the start at once.
    await openVault(dataDir, store, 'supervisor', { create: true });
    const queue = resolveQueue(config, process.env);
    const bootstrapFor = (role: string) => async (): Promise<Bootstrap> => {
      const values = await resolveRefs(refsFor(config, queue, role), dataDir, store, 'supervisor');
      const stateKey = stateKeyFor(role, dataDir);
      return { type: BOOTSTRAP, queue, values, ...(stateKey ? { stateKey: stateKey.toString('base64') } : {}) };
    };
    if (applied.length) log.info({ applied }, 'migrations applied');
    // Every credential a process will need is looked up now: a missing one stops the start (exit 2) naming its
    // field, before a port is opened or a child started, instead of a child that fails and restarts forever.
    const enabled = Object.entries(config.connectors).filter(([name, c]) => c?.enabled && AVAILABLE_CONNECTORS.has(name)).map(([name]) => name);
    const refs = new Set(['worker', 'surface', ...enabled.map((n) => `connector:${n}`)].flatMap((role) => refsFor(config, queue, role)));
    await resolveRefs([...refs], dataDir, store, 'supervisor', { ...config, queue });
    const globalArgs = ['--data-dir', dataDir, ...(options.config ? ['--config', options.config] : [])];
    const supervisor = new Supervisor(store, log, globalArgs);
    await supervisor.forgetEarlierRuns();
    // The HTTP surfaces are connectors of their own: they publish turns and await replies on their own queues.
    const surfaceQueue = await openQueue(queue, dataDir, resolverFrom(await resolveRefs(refsFor(config, queue, 'surface'), dataDir, store, 'supervisor')), store);
    // Before any worker starts: what a worker started by hand, and every chat, must read to be answered.
    await recordGatewayQueue(store, surfaceQueue.where);
    // Said once at start, not refused: a Redis restart would lose what the connectors already confirmed as received.
    void surfaceQueue.persistence?.().then((p) => {
      if (p && !p.durable) log.warn({ redis: p.detail }, 'Redis keeps nothing a restart would not lose: run it with appendonly yes (see doctor)');
    });
    void surfaceQueue.stranded?.().then(
      (stranded) => {
        if (stranded.length) log.error({ stranded }, 'jobs wait in partition queues beyond queue.partitions, which nothing reads: set it back until they are done (see doctor)');
      },
      () => undefined,
    );
    const shutdown = new AbortController();
    const deadlineFor = turnDeadline(config, store.settingsStore());
    const apiTurns = new TurnClient(surfaceQueue, store, 'api', isOwnerDecision(config), deadlineFor);
    apiTurns.start();
    const webTurns = new TurnClient(surfaceQueue, store, 'web', isOwnerDecision(config), deadlineFor);
    webTurns.start();
    const http = await startHttpServer(config.server, dataDir, {
      webhooks: webhookForwarder(supervisor, enabled),
      api: {
        config,
        auth: store.authStore(),
        turns: apiTurns,
        assistants: () => allAssistantNames(config, store.settingsStore()),
        access: store.accessStore(),
        audit: (entries) => store.appendAudit(entries),
      },
      dashboard: {
        config,
        store,
        plugs: builtinPlugs(),
        queue: surfaceQueue,
        turns: webTurns,
        states: () => supervisor.states(),
        whatsappQr: async () => {
          const key = stateKeyFor('connector:whatsapp', dataDir);
          return key ? sealedState(store, key).getConnectorState('whatsapp', QR_KEY) : undefined;
        },
        doctor: doctorRunner(supervisor, bootstrapFor),
        redactor,
        secureCookies: config.server.tls.mode !== 'off',
        stopping: shutdown.signal,
      },
      audit: (entries) => store.appendAudit(entries),
      onError: (error, request) => log.error({ ...request, error: redactor.redact(error.message) }, 'HTTP request failed'),
    }).catch(async (error: unknown) => {
      // A port already taken, say: what was opened for the server is closed, its wake-up socket in the data dir too.
      await Promise.all([apiTurns.close(), webTurns.close()]);
      await surfaceQueue.close();
      throw error;
    });
    supervisor.start({ name: 'worker', args: ['worker'], bootstrap: bootstrapFor('worker') });
    for (const [name, c] of Object.entries(config.connectors)) {
      if (!c?.enabled) continue;
      if (AVAILABLE_CONNECTORS.has(name)) supervisor.start({ name: `connector:${name}`, args: ['connector', name], bootstrap: bootstrapFor(`connector:${name}`) });
      else log.error({ connector: name }, 'connector enabled in config but not available in this build; not started');
    }
    await store.appendAudit([{ kind: 'gateway.started', actor: 'supervisor', data: { config: source, http: `${config.server.host}:${http.port}` } }]);
    log.info({ url: `${config.server.tls.mode === 'off' ? 'http' : 'https'}://${config.server.host}:${http.port}`, config: source, dataDir }, 'monkeyclaw started');
    // Told to listen beyond loopback without TLS: it does, as told, and says once what that exposes.
    const plain = config.server.tls.mode === 'off' ? plainHttpVerdict(config.server) : undefined;
    if (plain && !plain.ok) log.warn({ host: config.server.host }, `server TLS ${plain.detail}`);
    const database = watchDbFile(dbFile(dataDir));
    const stop = await Promise.race([terminated().then((signal) => ({ signal })), database.changed.then((lost) => ({ lost }))]);
    database.stop();
    const signal = 'signal' in stop ? stop.signal : 'database lost';
    if ('lost' in stop) log.error({ reason: stop.lost }, 'the database this gateway opened is gone: stopping, so that nothing more is taken from platforms and lost');
    log.info({ signal }, 'shutting down');
    // Side by side, not one after the other: the children's drain (up to 7 s, SIGKILL at 7.5 s) is most of the 10 s
    // that DESIGN allows, and nothing else should add to it. Whatever still hangs after that (a queue whose Redis
    // is gone) is left behind: the process exits regardless.
    shutdown.abort();
    const closing = Promise.all([http.close(), apiTurns.close(), webTurns.close(), supervisor.stop()]).then(() => surfaceQueue.close());
    if (!(await settlesWithin(closing, SHUTDOWN_MS))) log.warn({}, 'shutdown: gave up waiting for the HTTP server, the processes or the queue; exiting anyway');
    // Bounded too: a database some killed process left locked must not hold the exit past DESIGN's 10 s. What the
    // HTTP server refused in the last minute (oversized webhooks, bad API calls) goes on record first.
    await settlesWithin(RefusalReporter.flushAll().then(() => store.appendAudit([{ kind: 'gateway.stopped', actor: 'supervisor', data: { signal } }])), 500);
    return 'lost' in stop ? 1 : 0;
  } finally {
    await store.close();
    release();
  }
}
