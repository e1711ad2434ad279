import type { ConnectorLog } from '../../core/connector.js';
import { connectHttp } from './http.js';
import { SignalConnectionError, type Endpoint, type LinkHandlers, type Notification, type RpcConnection } from './rpc.js';
import { connectTcp } from './tcp.js';

const connectRpc = (endpoint: Endpoint, account: string, handlers: LinkHandlers, timeoutMs: number): Promise<RpcConnection> =>
  endpoint.kind === 'tcp' ? connectTcp(endpoint, handlers, timeoutMs) : connectHttp(endpoint, account, handlers, timeoutMs);

/** How the link watches the daemon. Defaults suit a real daemon; tests shorten them. */
export interface Timing {
  /** A cheap call (`version`) this often proves the daemon still answers on this connection. */
  pingIntervalMs: number;
  /** No answer within this long and the connection is taken for dead. */
  pingTimeoutMs: number;
  /**
   * No notification at all for this long (typing and receipts count) and the connection is recycled. Under
   * `--receive-mode=on-connection` that restarts signal-cli's own receive loop, the cure for a daemon that is
   * connected but has silently stopped delivering.
   */
  silentAfterMs: number;
  /** HTTP mode: signal-cli writes an SSE keep-alive every 15 s; no byte for this long means the stream is dead. */
  streamIdleMs: number;
  connectTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

export const DEFAULT_TIMING: Timing = {
  pingIntervalMs: 30_000,
  pingTimeoutMs: 10_000,
  silentAfterMs: 15 * 60_000,
  streamIdleMs: 45_000,
  connectTimeoutMs: 10_000,
  reconnectBaseMs: 500,
  reconnectMaxMs: 30_000,
};

export interface LinkDeps {
  endpoint: Endpoint;
  account: string;
  timing: Timing;
  log: ConnectorLog;
  now(): number;
  audit(kind: string, data: Record<string, unknown>): Promise<void>;
  onNotification(n: Notification): void;
  onMalformed(reason: string): void;
  /** After every answered ping: the daemon is alive (persisted for `doctor`). */
  onAlive?(): void;
  /** A reconnect attempt failed (the daemon is still unreachable). */
  onReconnectFailed?(error: unknown): void;
  random?: () => number;
}

/**
 * One long-lived connection to signal-cli, kept alive: a closed socket, an unanswered ping, an idle event stream or
 * a long silence all end the connection, and it is re-opened with capped exponential backoff and jitter — never a
 * tight loop. Every loss and every recovery is audited.
 */
export class SignalLink {
  private conn: RpcConnection | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private pinging = false;
  /** Calls awaiting an answer: a healthy connection is never recycled under them (a send's answer would be lost). */
  private inFlight = 0;
  /** Since when the connection has delivered nothing (the later of its opening and its last notification). */
  private quietSince = 0;
  lastActivityAt = 0;
  lastNotificationAt = 0;
  connectedAt = 0;
  reconnects = 0;
  lastLoss: { at: number; reason: string } | undefined;

  constructor(private readonly deps: LinkDeps) {}

  get connected(): boolean {
    return this.conn !== undefined;
  }

  /** Opens the first connection; throws when the daemon cannot be reached (a wrong address fails fast). */
  async start(timeoutMs = this.deps.timing.connectTimeoutMs): Promise<void> {
    await this.open(timeoutMs);
  }

  async call(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    if (!this.conn) throw new SignalConnectionError(`not connected to signal-cli at ${this.deps.endpoint.url}`);
    this.inFlight++;
    try {
      return await this.conn.call(method, { account: this.deps.account, ...params }, timeoutMs);
    } finally {
      this.inFlight--;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    this.wake?.();
    this.conn?.close('connector stopped');
    this.conn = undefined;
  }

  private async open(timeoutMs = this.deps.timing.connectTimeoutMs): Promise<void> {
    const { deps } = this;
    const conn = await connectRpc(
      deps.endpoint,
      deps.account,
      {
        onActivity: () => (this.lastActivityAt = deps.now()),
        onMalformed: deps.onMalformed,
        onNotification: (n) => {
          this.lastNotificationAt = this.quietSince = deps.now();
          deps.onNotification(n);
        },
      },
      timeoutMs,
    );
    if (this.stopped) return conn.close('connector stopped');
    this.conn = conn;
    this.connectedAt = this.lastActivityAt = deps.now();
    // Silence is measured from the connection, so a fresh connection gets a full period.
    this.quietSince = this.connectedAt;
    this.watchdog = setInterval(() => void this.tick(conn), deps.timing.pingIntervalMs);
    void conn.closed.then((reason) => this.lost(conn, reason));
  }

  private async tick(conn: RpcConnection): Promise<void> {
    if (this.pinging || conn !== this.conn) return;
    const { timing, now } = this.deps;
    if (this.deps.endpoint.kind === 'http' && now() - this.lastActivityAt > timing.streamIdleMs) {
      return conn.close(`event stream idle for ${Math.round((now() - this.lastActivityAt) / 1000)} s`);
    }
    if (now() - this.quietSince > timing.silentAfterMs && this.inFlight === 0) {
      return conn.close(`silent: no notification for ${Math.round((now() - this.quietSince) / 1000)} s`);
    }
    this.pinging = true;
    try {
      await conn.call('version', { account: this.deps.account }, timing.pingTimeoutMs);
      this.deps.onAlive?.();
    } catch (error) {
      // A JSON-RPC error is still an answer; only silence or a broken socket mean the connection is dead.
      if (error instanceof SignalConnectionError) conn.close(`no answer: ${error.message}`);
    } finally {
      this.pinging = false;
    }
  }

  private async lost(conn: RpcConnection, reason: string): Promise<void> {
    if (conn !== this.conn) return;
    clearInterval(this.watchdog);
    this.conn = undefined;
    if (this.stopped) return;
    const downAt = this.deps.now();
    this.lastLoss = { at: downAt, reason };
    this.deps.log.warn({ reason, rpc: this.deps.endpoint.url }, 'signal-cli connection lost; reconnecting');
    await this.deps.audit('connector.disconnected', { reason, rpc: this.deps.endpoint.url }).catch(() => undefined);
    for (let attempt = 0; !this.stopped; attempt++) {
      await this.sleep(this.backoff(attempt));
      if (this.stopped) return;
      try {
        await this.open();
      } catch (error) {
        this.deps.log.warn({ attempt: attempt + 1, error: (error as Error).message }, 'signal-cli reconnect failed');
        this.deps.onReconnectFailed?.(error);
        continue;
      }
      if (!this.conn) return;
      this.reconnects++;
      this.deps.log.info({ attempts: attempt + 1, reason }, 'signal-cli reconnected');
      await this.deps.audit('connector.reconnected', { reason, attempts: attempt + 1, downMs: this.deps.now() - downAt }).catch(() => undefined);
      return;
    }
  }

  /** Capped exponential backoff with jitter (50–100 % of the step), so many gateways never reconnect in lockstep. */
  private backoff(attempt: number): number {
    const { reconnectBaseMs, reconnectMaxMs } = this.deps.timing;
    const step = Math.min(reconnectMaxMs, reconnectBaseMs * 2 ** Math.min(attempt, 20));
    return Math.round(step / 2 + (this.deps.random ?? Math.random)() * (step / 2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
