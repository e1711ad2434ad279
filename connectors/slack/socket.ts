import { setTimeout as sleep } from 'node:timers/promises';
import { SocketModeClient } from '@slack/socket-mode';
import type { ConnectorLog } from '../../core/connector.js';
import { platformError, sdkLogger } from './client.js';

/** One frame from Slack that is neither `hello` nor `disconnect`, already JSON-parsed (its shape is not yet trusted). */
export type FrameHandler = (frame: unknown, ack: (envelopeId: string) => Promise<void>) => Promise<void>;

export interface SocketOptions {
  appToken: string;
  apiRoot: string;
  log: ConnectorLog;
  onFrame: FrameHandler;
  /** A frame that is not JSON or is too large; nothing can be acked for it. */
  onBadFrame(reason: string): void;
  /** No pong within this long and the socket is replaced (the SDK's own check). */
  pingTimeoutMs: number;
  /** Slack pings every few seconds; none within this long and the socket is replaced. */
  serverPingTimeoutMs: number;
  /** No frame at all (envelope, hello, disconnect) for this long: a connected-but-deaf socket, replaced. */
  idleReconnectMs: number;
  helloTimeoutMs: number;
  maxFrameBytes: number;
}

/** Mediates every frame before the SDK sees it: the SDK would throw (unhandled) on an envelope without a payload. */
class GuardedClient extends SocketModeClient {
  sink: { frame(frame: unknown): void; bad(reason: string): void; maxBytes: number } | undefined;

  protected override async onWebSocketMessage(data: string | ArrayBuffer, isBinary: boolean): Promise<void> {
    if (isBinary || !this.sink) return;
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
    if (Buffer.byteLength(text, 'utf8') > this.sink.maxBytes) return this.sink.bad(`frame larger than ${this.sink.maxBytes} bytes`);
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return this.sink.bad('frame is not JSON');
    }
    const type = typeof frame === 'object' && frame !== null ? (frame as { type?: unknown }).type : undefined;
    // hello (connected) and disconnect (Slack recycling the connection) are the SDK's business, and safe with it.
    if (type === 'hello' || type === 'disconnect') return super.onWebSocketMessage(text, false);
    this.sink.frame(frame);
  }
}

const FATAL = new Set(['invalid_auth', 'not_authed', 'not_allowed_token_type', 'account_inactive', 'token_revoked', 'missing_scope', 'invalid_app_token']);

/**
 * A Socket Mode connection that never acks on its own: frames go one at a time to `onFrame`, which acks after the
 * event is durably enqueued. Un-acked envelopes are redelivered by Slack on the next connection, so every reconnect
 * (a `disconnect` message, a missing pong, a silent socket) is safe: the gateway dedupes by channel + ts.
 */
export class SlackSocket {
  private readonly client: GuardedClient;
  private stopped = false;
  private readonly stopping = new AbortController();
  private chain: Promise<void> = Promise.resolve();
  private watchdog: NodeJS.Timeout | undefined;
  private closingSince: number | undefined;
  private loop: Promise<void> | undefined;
  connected = false;
  connections = 0;
  lastFrameAt = 0;
  lastEnvelopeAt = 0;

  constructor(private readonly options: SocketOptions) {
    this.client = new GuardedClient({
      appToken: options.appToken,
      logger: sdkLogger(options.log),
      // Reconnection is ours (run()), so an unrecoverable error cannot become an unhandled rejection in a timer.
      autoReconnectEnabled: false,
      clientPingTimeout: options.pingTimeoutMs,
      serverPingTimeout: options.serverPingTimeoutMs,
      clientOptions: { slackApiUrl: options.apiRoot, retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2_000 } },
    });
    this.client.sink = { frame: (f) => this.receive(f), bad: (why) => options.onBadFrame(why), maxBytes: options.maxFrameBytes };
    this.client.on('connected', () => {
      this.connected = true;
      this.connections += 1;
      this.lastFrameAt = Date.now();
    });
    this.client.on('disconnected', () => (this.connected = false));
  }

  /** Resolves once the first connection is up; rejects only when Slack refuses the app token. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.loop = this.run(resolve, reject);
      this.watchdog = setInterval(() => this.watch(), Math.max(50, Math.min(1_000, this.options.idleReconnectMs / 4)));
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    clearInterval(this.watchdog);
    await this.teardown();
    await this.loop;
    await this.chain;
  }

  /** Drops the current connection; run() opens a new one. */
  reconnect(why: string): void {
    this.options.log.warn({ why }, 'slack socket: reconnecting');
    this.client.websocket?.disconnect();
  }

  private async run(started: () => void, failed: (e: Error) => void): Promise<void> {
    let failures = 0;
    let first = true;
    while (!this.stopped) {
      const down = this.nextDisconnect();
      try {
        await this.connect();
        failures = 0;
        if (first) (first = false), started();
        await down;
      } catch (error) {
        const code = platformError(error);
        if (first && code !== undefined && FATAL.has(code)) {
          this.stopped = true;
          clearInterval(this.watchdog);
          return failed(new Error(`Slack refused the app token (${code}): check connectors.slack.appToken and Socket Mode`));
        }
        failures += 1;
        this.options.log.warn({ error: code ?? (error as Error).message, failures }, 'slack socket: connection failed');
        await this.teardown();
        // The first start resolves even while Slack is unreachable: the loop keeps trying, check() says so.
        if (first) (first = false), started();
      }
      if (this.stopped) break;
      const backoff = failures === 0 ? 50 : Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
      await sleep(backoff, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
    if (first) started(); // stopped before it ever connected
  }

  private async connect(): Promise<void> {
    const opened = this.client.start();
    opened.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no hello within ${this.options.helloTimeoutMs} ms`)), this.options.helloTimeoutMs);
    });
    try {
      await Promise.race([opened, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private nextDisconnect(): Promise<void> {
    return new Promise((resolve) => this.client.once('disconnected', () => resolve()));
  }

  /** Closes the current socket if there is one, forcing it when the peer does not finish the close handshake. */
  private async teardown(): Promise<void> {
    const ws = this.client.websocket;
    if (!ws || ws.readyState === undefined) return;
    const down = this.nextDisconnect();
    ws.disconnect();
    const force = setTimeout(() => ws.disconnect(), 2_000);
    await Promise.race([down, sleep(5_000)]);
    clearTimeout(force);
  }

  private watch(): void {
    const ws = this.client.websocket;
    const state = ws?.readyState;
    // A close handshake the peer never completes would hold the reconnect for the SDK's 30 s: cut it short.
    if (state === 2 /* CLOSING */) {
      this.closingSince ??= Date.now();
      if (Date.now() - this.closingSince > 2_000) ws?.disconnect();
      return;
    }
    this.closingSince = undefined;
    if (this.connected && Date.now() - this.lastFrameAt > this.options.idleReconnectMs) {
      this.lastFrameAt = Date.now();
      this.reconnect(`no frame from Slack for ${this.options.idleReconnectMs} ms`);
    }
  }

  private receive(frame: unknown): void {
    this.lastFrameAt = this.lastEnvelopeAt = Date.now();
    // Acks go back on the socket that delivered the envelope; if it is gone, Slack redelivers and dedupe absorbs it.
    const ws = this.client.websocket;
    const ack = (envelopeId: string) =>
      new Promise<void>((resolve) => {
        if (!ws?.isActive()) return resolve();
        ws.send(JSON.stringify({ envelope_id: envelopeId }), () => resolve());
      });
    // One at a time, in arrival order: events of a conversation are enqueued in the order Slack sent them.
    this.chain = this.chain
      .then(() => this.options.onFrame(frame, ack))
      .catch((error: unknown) => this.options.log.error({ error: (error as Error).message }, 'slack socket: frame handler failed'));
  }
}
