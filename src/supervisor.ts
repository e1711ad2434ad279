import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Store } from '../core/store.js';
import { ALIVE_EVERY_MS, isAlive, isListening, parseFatalReport } from './child-ipc.js';

export interface ChildSpec {
  /** `worker`, `connector:telegram`, … */
  name: string;
  args: string[];
  /** The credentials this child may hold, resolved afresh at each start and sent over IPC. */
  bootstrap(): Promise<object>;
}

/** Children inherit no ambient secrets: only what a Node process needs to run, plus the IPC bootstrap flag. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_OPTIONS', 'MONKEYCLAW_LOG_LEVEL'];
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { MONKEYCLAW_SUPERVISED: '1' };
  for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

export interface RestartPolicy {
  /** More restarts than this within `withinMs` and the child is marked failed (OTP restart intensity). */
  maxRestarts: number;
  withinMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * A failed child is still tried again this often, until it stays up for `withinMs`: a daemon or a network that
   * comes up minutes after the gateway (a slow signal-cli JVM at boot) must not need a restart by hand.
   */
  coolDownMs: number;
  /**
   * A running child that sends no sign of life (child-ipc ALIVE) for this long is stuck, not busy: it is killed,
   * audited as `process.hung`, and restarted like a crash. Its jobs go back to the queue; one that stalls every
   * worker it reaches is dead-lettered once delivered more than maxAttempts times.
   */
  hungAfterMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = { maxRestarts: 5, withinMs: 60_000, baseDelayMs: 500, maxDelayMs: 30_000, coolDownMs: 60_000, hungAfterMs: 60_000 };

/** A child's answer to a request, or why there is none, in words that finish "the child …". */
export type Requested = { ok: true; answer: unknown } | { ok: false; why: string };

export type ChildState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

/** What the supervisor keeps of each child in the store (connector state `supervisor`, key `child:<name>`), for `doctor`. */
export const childRecordSchema = z.object({
  state: z.enum(['starting', 'running', 'restarting', 'failed', 'stopped']),
  /** The supervisor that wrote it: a record of an earlier run does not describe this one. */
  supervisor: z.number().int(),
  restarts: z.number().int(),
  reason: z.string().optional(),
  /** Failed but still tried again this often (absent: not tried again until the gateway restarts). */
  retryEveryMs: z.number().int().optional(),
  /** The child's own pid while it runs. */
  pid: z.number().int().optional(),
});
export type ChildRecord = z.infer<typeof childRecordSchema>;
export const CHILD_RECORDS = { connector: 'supervisor', prefix: 'child:' } as const;

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));

interface Managed {
  spec: ChildSpec;
  child?: ChildProcess;
  state: ChildState;
  /** Restart times within `withinMs`: the restart intensity. */
  restarts: number[];
  /** Crashes since the child last stayed up for `withinMs`, for doctor. */
  unsteady: number;
  /** How it last ended, kept on record until it stays up. */
  lastExit?: string;
  /** Failed: crashing too often, so each new try comes after `coolDownMs`, and it stays failed until it stays up. */
  failing?: boolean;
  timer?: NodeJS.Timeout;
  /** Ends a failure once a retried child has stayed up for `withinMs`. */
  steadyTimer?: NodeJS.Timeout;
  /** Why the running child says it is exiting (its last words over IPC), audited with the crash. */
  report?: string;
  /** The running child reads requests (it said so over IPC). */
  listening?: boolean;
  /** When the running child last showed its event loop turning (spawn, then each ALIVE). */
  aliveAt?: number;
  /**
   * Requests to the running child waiting for their answers, by id: one message listener serves them all (a listener
   * each made a burst of webhooks print Node's listener-leak warning, unstructured, on stderr).
   */
  pending: Map<string, { isAnswer: (m: unknown) => boolean; done: (r: Requested) => void }>;
}

/**
 * Starts each child as its own OS process and keeps it running: a crash is restarted after an exponential
 * backoff, and a child that crashes too often is marked failed without touching the others. Every start, crash,
 * restart and give-up is audited.
 */
export class Supervisor {
  private readonly children = new Map<string, Managed>();
  /** One-off children (a doctor run): never restarted, killed at stop. */
  private readonly oneOffs = new Set<ChildProcess>();
  private stopping = false;
  private watchdog?: NodeJS.Timeout;
  /** When the watchdog last looked (monotonic ms): a long gap means this process stood still, not its children. */
  private lookedAt = performance.now();

  constructor(
    private readonly store: Pick<Store, 'appendAudit' | 'setConnectorState' | 'listConnectorState'>,
    private readonly log: Logger,
    private readonly globalArgs: string[],
    private readonly policy: RestartPolicy = DEFAULT_RESTART,
  ) {}

  start(spec: ChildSpec): void {
    this.watchdog ??= setInterval(() => this.killHung(), Math.max(50, Math.min(ALIVE_EVERY_MS, this.policy.hungAfterMs / 4)));
    this.watchdog.unref();
    const managed: Managed = { spec, state: 'starting', restarts: [], unsteady: 0, pending: new Map() };
    this.children.set(spec.name, managed);
    this.record(managed);
    this.spawn(managed);
  }

  /**
   * Marks what an earlier gateway recorded of its children as stopped, before this one starts its own: a connector
   * since disabled must not read as running, or failed, to `doctor` (in a container every run may have pid 1).
   */
  async forgetEarlierRuns(): Promise<void> {
    for (const { key } of await this.store.listConnectorState(CHILD_RECORDS.connector, CHILD_RECORDS.prefix)) {
      const stopped: ChildRecord = { state: 'stopped', supervisor: process.pid, restarts: 0 };
      await this.store.setConnectorState(CHILD_RECORDS.connector, key, stopped);
    }
  }

  /** Sends `message` to a running child and resolves with its answer of the same id, or why there is none. */
  request(name: string, message: { id: string; [key: string]: unknown }, isAnswer: (m: unknown) => m is { id: string }, timeoutMs = 10_000): Promise<Requested> {
    const managed = this.children.get(name);
    const child = managed?.child;
    if (!child?.connected) return Promise.resolve({ ok: false, why: 'not running' });
    if (!managed!.listening) return Promise.resolve({ ok: false, why: 'starting' });
    const pending = managed!.pending;
    if (pending.has(message.id)) return Promise.resolve({ ok: false, why: 'has a request of that id already' });
    return new Promise((resolve) => {
      const done = (value: Requested) => {
        clearTimeout(timer);
        pending.delete(message.id);
        resolve(value);
      };
      const timer = setTimeout(() => done({ ok: false, why: `gave no answer within ${timeoutMs / 1000} s` }), timeoutMs);
      pending.set(message.id, { isAnswer, done });
      child.send(message);
    });
  }

  /**
   * Runs a one-off child (`doctor --connector X`) with the credentials `spec.bootstrap` gives it, outside the
   * restart policy. Resolves with the first message `accept` takes, once the child has exited; undefined when it
   * exits without one, or when it is still running after `timeoutMs` (then it is killed).
   */
  async runOnce<T>(spec: ChildSpec, accept: (message: unknown) => T | undefined, timeoutMs: number): Promise<T | undefined> {
    if (this.stopping) return undefined;
    const bootstrap = await spec.bootstrap();
    if (this.stopping) return undefined;
    const child = fork(CLI, [...spec.args, ...this.globalArgs], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: childEnv() });
    this.oneOffs.add(child);
    return new Promise((resolve) => {
      let answer: T | undefined;
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('message', (message: unknown) => {
        answer ??= accept(message);
      });
      const done = () => {
        clearTimeout(timer);
        this.oneOffs.delete(child);
        resolve(answer);
      };
      child.once('error', done);
      child.once('close', done);
      child.send(bootstrap, (error) => {
        if (error) child.kill('SIGKILL');
      });
    });
  }

  states(): Record<string, ChildState> {
    return Object.fromEntries([...this.children].map(([name, m]) => [name, m.state]));
  }

  private spawn(m: Managed): void {
    void m.spec.bootstrap().then(
      (bootstrap) => {
        if (this.stopping) return;
        const child = fork(CLI, [...m.spec.args, ...this.globalArgs], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: childEnv() });
        m.child = child;
        // A failing child that runs again is still failed (doctor, dashboard) until it has stayed up for a while.
        m.state = m.failing ? 'failed' : 'running';
        clearTimeout(m.steadyTimer);
        m.steadyTimer = setTimeout(() => {
          if (m.child !== child) return;
          m.failing = false;
          m.unsteady = 0;
          m.lastExit = undefined;
          m.state = 'running';
          this.record(m);
        }, this.policy.withinMs);
        m.steadyTimer.unref();
        this.record(m);
        m.report = undefined;
        m.listening = false;
        m.aliveAt = performance.now();
        child.on('message', (message: unknown) => {
          if (isAlive(message)) m.aliveAt = performance.now();
          if (isListening(message)) m.listening = true;
          const id = (message as { id?: unknown } | null)?.id;
          const waiting = typeof id === 'string' ? m.pending.get(id) : undefined;
          if (waiting?.isAnswer(message)) waiting.done({ ok: true, answer: message });
          const report = parseFatalReport(message);
          if (report !== undefined) m.report = report;
        });
        child.send(bootstrap);
        void this.audit('process.started', m.spec.name, { pid: child.pid });
        // 'close', not 'exit': it comes after the IPC channel is drained, so a last report is never missed.
        child.once('close', (code, signal) => this.onExit(m, code, signal));
      },
      (error: unknown) => {
        // A missing secret will not appear by retrying: say so once, plainly, and leave the others running.
        m.state = 'failed';
        m.failing = false;
        const reason = error instanceof Error ? error.message : String(error);
        this.record(m, `cannot start: ${reason}`);
        void this.audit('process.failed_to_start', m.spec.name, { reason });
        this.log.error({ child: m.spec.name, reason }, 'child cannot start');
      },
    );
  }

  /** Kills each running child silent for hungAfterMs; its exit is then a crash like any other, with this reason. */
  private killHung(): void {
    if (this.stopping) return;
    // Monotonic time: a clock set forward, or a machine that slept, is no silence. Nor is the supervisor's own stall
    // (its loop held, or the machine suspended): the children's signs of life are queued unread, so all start over.
    const now = performance.now();
    const stalled = now - this.lookedAt > this.policy.hungAfterMs / 2;
    this.lookedAt = now;
    for (const m of this.children.values()) {
      if (stalled) m.aliveAt = now;
      const silentMs = now - (m.aliveAt ?? now);
      if (!m.child || m.child.exitCode !== null || m.child.signalCode !== null || silentMs < this.policy.hungAfterMs || m.report) continue;
      m.report = `stopped responding for ${Math.round(silentMs / 1000)} s (its event loop was blocked): killed`;
      void this.audit('process.hung', m.spec.name, { pid: m.child.pid, silentMs });
      this.log.error({ child: m.spec.name, silentMs }, 'child stopped responding; killing it');
      m.child.kill('SIGKILL');
    }
  }

  private onExit(m: Managed, code: number | null, signal: NodeJS.Signals | null): void {
    m.child = undefined;
    for (const { done } of [...m.pending.values()]) done({ ok: false, why: 'exited before answering' });
    clearTimeout(m.steadyTimer);
    if (this.stopping) {
      m.state = 'stopped';
      this.record(m);
      return;
    }
    const now = Date.now();
    m.restarts = m.restarts.filter((t) => now - t < this.policy.withinMs);
    const error = m.report;
    void this.audit('process.crashed', m.spec.name, { code, signal, ...(error !== undefined ? { error } : {}) });
    // Why, in the child's own words (redacted when it said them): the log of `start` is where an operator looks first.
    this.log.error({ child: m.spec.name, code, signal, ...(error !== undefined ? { error } : {}) }, 'child exited');
    const exit = error ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
    if (!m.failing && m.restarts.length >= this.policy.maxRestarts) {
      m.failing = true;
      void this.audit('process.gave_up', m.spec.name, { restarts: m.restarts.length, withinMs: this.policy.withinMs, retryEveryMs: this.policy.coolDownMs });
      this.log.error({ child: m.spec.name, retryEveryMs: this.policy.coolDownMs }, 'child restarts too often; marked failed, tried again now and then');
    }
    const delay = m.failing ? this.policy.coolDownMs : Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** m.restarts.length);
    if (!m.failing) m.restarts.push(now);
    m.state = m.failing ? 'failed' : 'restarting';
    m.lastExit = exit;
    m.unsteady++;
    this.record(m);
    m.timer = setTimeout(() => {
      if (this.stopping) return;
      void this.audit('process.restarted', m.spec.name, { delayMs: delay, attempt: m.unsteady, ...(m.failing ? { failed: true } : {}) });
      this.spawn(m);
    }, delay);
  }

  /** Keeps the child's state where `doctor` (another process) can read it while this gateway runs. */
  private record(m: Managed, reason = m.lastExit): void {
    const retry = m.state === 'failed' && m.failing ? { retryEveryMs: this.policy.coolDownMs } : {};
    const pid = m.child?.pid !== undefined && m.child.exitCode === null && m.child.signalCode === null ? { pid: m.child.pid } : {};
    const value: ChildRecord = { state: m.state, supervisor: process.pid, restarts: m.unsteady, ...(reason ? { reason } : {}), ...retry, ...pid };
    this.store
      .setConnectorState(CHILD_RECORDS.connector, `${CHILD_RECORDS.prefix}${m.spec.name}`, value)
      .catch((error: Error) => this.log.error({ error: error.message }, 'could not record a child\'s state'));
  }

  private async audit(kind: string, name: string, data: Record<string, unknown>): Promise<void> {
    try {
      await this.store.appendAudit([{ kind, actor: 'supervisor', subject: name, data }]);
    } catch (error) {
      this.log.error({ error }, 'audit append failed');
    }
  }

  /**
   * SIGTERM to every child, SIGKILL to any still running after `graceMs`: a worker drains for at most 7 s and a
   * connector 5 s (its platform client stops after), then they hand back what they hold. One stuck past that (a
   * publish waiting on a Redis that is gone) is killed, leaving the gateway time to close before DESIGN's 10 s.
   */
  async stop(graceMs = 7_500): Promise<void> {
    this.stopping = true;
    clearInterval(this.watchdog);
    for (const child of this.oneOffs) child.kill('SIGKILL');
    const running = [...this.children.values()].filter((m) => {
      clearTimeout(m.timer);
      clearTimeout(m.steadyTimer);
      return m.child;
    });
    await Promise.all(
      running.map(
        (m) =>
          new Promise<void>((resolve) => {
            const child = m.child!;
            const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
