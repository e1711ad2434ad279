import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';

/**
 * A fake `signal-cli daemon --tcp … --http … --receive-mode=on-connection` on 127.0.0.1, speaking the shapes of
 * signal-cli-jsonrpc(5): newline-delimited JSON-RPC over TCP, and over HTTP POST /api/v1/rpc plus the SSE stream
 * GET /api/v1/events (`event:receive`, `data:{"envelope":…,"account":…}`, `:` keep-alives).
 * As with on-connection mode, notifications pushed while no client listens are held and delivered on connect.
 */

export const ACCOUNT = '+15550000000';
export const ACCOUNT_UUID = '1f3e2d4c-5b6a-4789-8abc-def012345678';

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  transport: 'tcp' | 'http';
  at: number;
}

export interface RecordedSend {
  recipient?: string[];
  groupId?: string;
  message: string;
  quoteTimestamp?: number;
  quoteAuthor?: string;
  timestamp: number;
}

interface Receiver {
  kind: 'tcp' | 'sse';
  /** Accepted while silent: it never gets a byte, even after the daemon speaks again. */
  zombie: boolean;
  write(chunk: string): void;
  destroy(): void;
}

type RpcAnswer = { result: unknown } | { error: { code: number; message: string; data: unknown } };

export class FakeSignalDaemon {
  readonly calls: RecordedCall[] = [];
  readonly sends: RecordedSend[] = [];
  /** Connections accepted so far (TCP sockets and SSE streams), healthy or not. */
  connections = 0;
  private readonly receivers = new Set<Receiver>();
  private readonly held: Array<{ line: string; raw: boolean }> = [];
  private readonly hanging = new Set<ServerResponse | Socket>();
  private silent = false;
  /** Methods answered only after a delay (a daemon still warming up), by name. */
  private readonly delays = new Map<string, number>();
  private failures: RpcAnswer[] = [];
  private clock = 1_800_000_000_000;
  private keepAlive: NodeJS.Timeout | undefined;
  private tcp!: NetServer;
  private http!: HttpServer;
  tcpUrl = '';
  httpUrl = '';

  /** tcpPort: listen where a connector already points (a daemon that comes up after the gateway). */
  constructor(readonly options: { multiAccount?: boolean; keepAliveMs?: number; tcpPort?: number } = {}) {}

  static async start(options?: FakeSignalDaemon['options']): Promise<FakeSignalDaemon> {
    const daemon = new FakeSignalDaemon(options);
    await daemon.listen();
    return daemon;
  }

  get typing(): RecordedCall[] {
    return this.calls.filter((c) => c.method === 'sendTyping');
  }

  /** Healthy clients that receive notifications now. */
  get clients(): number {
    return [...this.receivers].filter((r) => !r.zombie).length;
  }

  /** Delivers a receive notification (the whole JSON-RPC object, as a fixture holds it) to every client, or holds it. */
  push(notification: object): void {
    this.deliver(notification as { params?: unknown });
  }

  /** Writes raw text as one notification line (TCP) / one event's data (SSE): malformed input. */
  pushRaw(text: string): void {
    this.deliver(undefined, text);
  }

  /** The next `send` answers with this JSON-RPC error (default: rate limit -5, as signal-cli reports it). */
  failNextSend(error: { code: number; message: string; data: unknown } = rateLimit(1)): void {
    this.failures.push({ error });
  }

  /** Answers `method` only `ms` after it is called, from now on (TCP). */
  delayAnswers(method: string, ms: number): void {
    this.delays.set(method, ms);
  }

  /** Connections stay open (and new ones are accepted) but nothing is delivered or answered. */
  goSilent(): void {
    this.silent = true;
    for (const r of this.receivers) r.zombie = true;
  }

  /** New connections work again; the ones accepted while silent stay dead, as a hung daemon's would. */
  speak(): void {
    this.silent = false;
  }

  /** Closes every client connection, as a restarted daemon would. */
  dropConnections(): void {
    for (const r of this.receivers) r.destroy();
    this.receivers.clear();
  }

  async close(): Promise<void> {
    clearInterval(this.keepAlive);
    this.dropConnections();
    for (const h of this.hanging) h.destroy();
    await Promise.all([new Promise((r) => this.tcp.close(r)), new Promise((r) => this.http.close(r))]);
    this.http.closeAllConnections();
  }

  private async listen(): Promise<void> {
    this.tcp = createNetServer((socket) => this.acceptTcp(socket));
    this.http = createHttpServer((req, res) => void this.serveHttp(req, res));
    await new Promise<void>((r) => this.tcp.listen(this.options.tcpPort ?? 0, '127.0.0.1', r));
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r));
    this.tcpUrl = `tcp://127.0.0.1:${(this.tcp.address() as { port: number }).port}`;
    this.httpUrl = `http://127.0.0.1:${(this.http.address() as { port: number }).port}`;
    this.keepAlive = setInterval(() => {
      for (const r of this.receivers) if (r.kind === 'sse' && !r.zombie) r.write(':\n');
    }, this.options.keepAliveMs ?? 15_000);
  }

  private deliver(notification: { params?: unknown } | undefined, raw?: string): void {
    const live = [...this.receivers].filter((r) => !r.zombie);
    const line = raw ?? JSON.stringify(notification);
    if (live.length === 0) return void this.held.push({ line, raw: raw !== undefined });
    for (const r of live) r.write(r.kind === 'tcp' ? `${line}\n` : sseEvent(line, raw !== undefined));
  }

  /** on-connection mode: receiving starts when a client connects, and what waited on the server arrives first. */
  private attach(r: Receiver): void {
    this.connections++;
    r.zombie = this.silent;
    this.receivers.add(r);
    if (r.zombie) return;
    const held = this.held.splice(0);
    for (const { line, raw } of held) r.write(r.kind === 'tcp' ? `${line}\n` : sseEvent(line, raw));
  }

  private acceptTcp(socket: Socket): void {
    const r: Receiver = { kind: 'tcp', zombie: false, write: (c) => socket.write(c), destroy: () => socket.destroy() };
    socket.on('error', () => undefined);
    socket.on('close', () => this.receivers.delete(r));
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (r.zombie) continue;
        const answer = this.answerLine(line, 'tcp');
        const delay = this.delays.get(this.calls.at(-1)?.method ?? '') ?? 0;
        const write = () => answer && !socket.destroyed && socket.write(`${JSON.stringify(answer)}\n`);
        if (delay > 0) setTimeout(write, delay);
        else write();
      }
    });
    this.attach(r);
  }

  private async serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/api/v1/check') return void res.writeHead(200).end();
    if (path === '/api/v1/events' && req.method === 'GET') {
      if (this.silent) return void this.hang(res);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      const r: Receiver = { kind: 'sse', zombie: false, write: (c) => res.write(c), destroy: () => res.destroy() };
      res.on('close', () => this.receivers.delete(r));
      return this.attach(r);
    }
    if (path !== '/api/v1/rpc') return void res.writeHead(404).end();
    if (req.method !== 'POST') return void res.writeHead(405).end();
    if (!req.headers['content-type']?.startsWith('application/json')) return void res.writeHead(415).end();
    let body = '';
    for await (const chunk of req) body += chunk;
    if (this.silent) return void this.hang(res);
    const answer = this.answerLine(body, 'http');
    if (!answer) return void res.writeHead(201).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  }

  private hang(res: ServerResponse): void {
    this.connections++;
    this.hanging.add(res);
    res.on('close', () => this.hanging.delete(res));
  }

  private answerLine(line: string, transport: 'tcp' | 'http'): object | undefined {
    let request: { jsonrpc?: unknown; method?: unknown; params?: unknown; id?: unknown };
    try {
      request = JSON.parse(line);
    } catch {
      return { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error', data: null }, id: null };
    }
    if (request.jsonrpc !== '2.0' || typeof request.method !== 'string') {
      return { jsonrpc: '2.0', error: { code: -32600, message: 'method field must be set', data: null }, id: request.id ?? null };
    }
    const params = (request.params ?? {}) as Record<string, unknown>;
    this.calls.push({ method: request.method, params, transport, at: Date.now() });
    if (request.id === undefined) return undefined;
    return { jsonrpc: '2.0', ...this.answer(request.method, params), id: request.id };
  }

  private answer(method: string, params: Record<string, unknown>): RpcAnswer {
    // Like signal-cli's multi-account mode: per-account methods refuse an account it does not hold; listAccounts does not care.
    if (this.options.multiAccount && method !== 'listAccounts' && params.account !== undefined && params.account !== ACCOUNT) {
      return { error: { code: -32602, message: 'Specified account does not exist', data: null } };
    }
    switch (method) {
      case 'version':
        return { result: { version: '0.13.22' } };
      case 'listAccounts':
        return this.options.multiAccount ? { result: [{ number: ACCOUNT }] } : { error: { code: -32601, message: 'Method not implemented', data: null } };
      case 'listContacts': {
        const wanted = [params.recipient].flat();
        return { result: wanted.includes(ACCOUNT) ? [{ number: ACCOUNT, uuid: ACCOUNT_UUID, username: null, name: '', isBlocked: false }] : [] };
      }
      case 'listGroups':
        return { result: [] };
      case 'sendTyping':
      case 'sendReceipt':
        return { result: {} };
      case 'send':
        return this.send(params);
      default:
        return { error: { code: -32601, message: 'Method not implemented', data: null } };
    }
  }

  private send(params: Record<string, unknown>): RpcAnswer {
    const recipient = params.recipient === undefined ? undefined : [params.recipient].flat();
    const groupId = params.groupId;
    if (typeof params.message !== 'string' || (!recipient && typeof groupId !== 'string')) {
      return { error: { code: -32602, message: 'No recipients given', data: null } };
    }
    const failure = this.failures.shift();
    if (failure) return failure;
    const timestamp = ++this.clock;
    this.sends.push({
      ...(recipient ? { recipient: recipient as string[] } : {}),
      ...(typeof groupId === 'string' ? { groupId } : {}),
      message: params.message,
      ...(typeof params.quoteTimestamp === 'number' ? { quoteTimestamp: params.quoteTimestamp } : {}),
      ...(typeof params.quoteAuthor === 'string' ? { quoteAuthor: params.quoteAuthor } : {}),
      timestamp,
    });
    const to = (recipient ?? ['a11ce000-1d2e-4f3a-8b4c-5d6e7f809102']).map((uuid) => ({ recipientAddress: { uuid, number: null }, type: 'SUCCESS' }));
    return { result: { timestamp, results: to } };
  }
}

/** signal-cli's -5: the retry-after is per recipient in `data.response.results` (SendMessageResultUtils). */
export function rateLimit(retryAfterSeconds: number) {
  return {
    code: -5,
    message: 'Failed to send message due to rate limiting',
    data: { response: { timestamp: 0, results: [{ recipientAddress: { uuid: null, number: null }, type: 'RATE_LIMIT_FAILURE', retryAfterSeconds }] } },
  };
}

/** SSE as signal-cli's ServerSentEventSender writes it: the event data is the notification's params, not the envelope of JSON-RPC. */
function sseEvent(line: string, raw: boolean): string {
  if (raw) return `event:receive\ndata:${line}\n\n`;
  const params = (JSON.parse(line) as { params?: unknown }).params;
  return `event:receive\ndata:${JSON.stringify(params)}\n\n`;
}
