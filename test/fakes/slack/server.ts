import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A loopback fake of Slack: the Web API methods the connector calls (auth.test, chat.postMessage, chat.update,
 * apps.connections.open) and a Socket Mode WebSocket that behaves as Slack documents it: `hello` on connect,
 * `events_api` envelopes that must be acked with `{envelope_id}`, an envelope not acked in time retried on the same
 * connection (`retry_attempt`, `retry_reason: "timeout"`, at most 3 times), un-acked envelopes redelivered on the
 * next connection, `disconnect` messages followed by Slack closing the connection itself, pings. Test controls push
 * events, rate-limit Web API methods (HTTP 429 + Retry-After) and make a socket deaf.
 */
export interface Post {
  channel: string;
  text: string;
  thread_ts?: string;
  unfurl_links?: string;
  /** 'false' when posted with formatting off. */
  mrkdwn?: string;
  ts: string;
  at: number;
  /** How many times chat.update changed it. */
  edits?: number;
}

interface Envelope {
  id: string;
  payload: unknown;
  acked: boolean;
  /** When the first ack arrived. */
  ackedAt?: number;
  deliveries: number;
  /** The connection it was last sent on: Slack retries a missed ack there while it is open. */
  conn?: Conn;
  /** The pending ack-timeout retry. */
  retry?: NodeJS.Timeout;
}

/** One envelope frame as the fake sent it: which connection, which attempt. */
export interface Delivery {
  id: string;
  /** 1 for the fake's first connection, 2 for the next… */
  connection: number;
  retry_attempt: number;
  retry_reason: string;
  at: number;
}

/** A Web API method answering 429 to its next call(s); `when` picks which calls (by their body). */
interface RateLimit {
  method: string;
  retryAfter: number;
  when?: (body: Record<string, unknown>) => boolean;
}

/** silent: pings and pongs go on but no envelope is delivered; no-pong: nothing at all, not even pongs. */
type Deafness = false | 'silent' | 'no-pong';
interface Conn {
  n: number;
  ws: WebSocket;
  deaf: Deafness;
  ping: NodeJS.Timeout;
  /** Told to go (a `disconnect` message): new envelopes go to another connection when there is one. */
  draining: boolean;
}

export const FAKE_TEAM = { id: 'T0001ACME', name: 'Acme' };
export const FAKE_BOT = { userId: 'U0LAN0Z89', botId: 'B0LAN0Z89', name: 'monkeyclaw' };

export interface SlackFakeOptions {
  botToken: string;
  appToken: string;
  pingIntervalMs?: number;
  echoBotPosts?: boolean;
  /** auth.test answers only after this long (a slow network at the connector's start). */
  authDelayMs?: number;
  /**
   * The workspace's members as users.info knows them (id → display name); without them users.info says
   * missing_scope, as for an app installed without users:read.
   */
  people?: Record<string, string>;
  /** An envelope not acked within this long is sent again on the same connection: 3 s at Slack. */
  ackTimeoutMs?: number;
  /** How many such retries before Slack stops trying on a live connection: 3 at Slack. */
  maxRetries?: number;
  /** After a `disconnect` message Slack closes the connection itself this long later: seconds at Slack, short here. */
  disconnectCloseMs?: number;
}

export async function startSlackFake(options: SlackFakeOptions) {
  const ackTimeoutMs = options.ackTimeoutMs ?? 3_000;
  const maxRetries = options.maxRetries ?? 3;
  const posts: Post[] = [];
  const calls: Array<{ method: string; at: number; status: number }> = [];
  const deliveries: Delivery[] = [];
  const envelopes = new Map<string, Envelope>();
  const conns = new Set<Conn>();
  let rateLimits: RateLimit[] = [];
  /** After a 429, Slack keeps refusing that method in that channel until its Retry-After is over. */
  const quietUntil = new Map<string, number>();
  let seq = 0;
  let connections = 0;
  let serverCloses = 0;
  /** The Retry-After (seconds) of the 429 this call meets: one armed for its method (and body), or a window not over. */
  const limited = (method: string, body: Record<string, unknown>): number | undefined => {
    const place = `${method} ${String(body.channel ?? '')}`;
    const left = (quietUntil.get(place) ?? 0) - Date.now();
    if (left > 0) return Math.ceil(left / 1000);
    const i = rateLimits.findIndex((l) => l.method === method && (l.when?.(body) ?? true));
    if (i < 0) return undefined;
    const { retryAfter } = rateLimits.splice(i, 1)[0]!;
    quietUntil.set(place, Date.now() + retryAfter * 1000);
    return retryAfter;
  };
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0]!;
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '') || String(body.token ?? '');
    const answer = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      calls.push({ method, at: Date.now(), status });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(value));
    };
    if (method === 'auth.test') {
      if (options.authDelayMs) await new Promise((resolve) => setTimeout(resolve, options.authDelayMs));
      if (token !== options.botToken) return answer(200, { ok: false, error: 'invalid_auth' });
      return answer(200, { ok: true, url: 'https://acme.slack.com/', team: FAKE_TEAM.name, user: FAKE_BOT.name, team_id: FAKE_TEAM.id, user_id: FAKE_BOT.userId, bot_id: FAKE_BOT.botId });
    }
    if (method === 'apps.connections.open') {
      if (token === options.botToken) return answer(200, { ok: false, error: 'not_allowed_token_type' });
      if (token !== options.appToken) return answer(200, { ok: false, error: 'invalid_auth' });
      const { port } = server.address() as AddressInfo;
      return answer(200, { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=${++seq}` });
    }
    if (method === 'chat.postMessage') {
      if (token !== options.botToken) return answer(200, { ok: false, error: 'invalid_auth' });
      const retryAfter = limited(method, body);
      if (retryAfter !== undefined) return answer(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(retryAfter) });
      const text = typeof body.text === 'string' ? body.text : '';
      if (!body.channel) return answer(200, { ok: false, error: 'channel_not_found' });
      if (!text) return answer(200, { ok: false, error: 'no_text' });
      if (text.length > 40_000) return answer(200, { ok: false, error: 'msg_too_long' });
      const ts = nextTs();
      const post: Post = { channel: String(body.channel), text, ts, at: Date.now(), ...(body.thread_ts ? { thread_ts: String(body.thread_ts) } : {}), ...(body.unfurl_links !== undefined ? { unfurl_links: String(body.unfurl_links) } : {}), ...(body.mrkdwn !== undefined ? { mrkdwn: String(body.mrkdwn) } : {}) };
      posts.push(post);
      // Slack tells the app about its own message too: the connector must not answer it.
      if (options.echoBotPosts) push(botEcho(post));
      return answer(200, { ok: true, channel: post.channel, ts, message: { type: 'message', text, user: FAKE_BOT.userId, bot_id: FAKE_BOT.botId, ts } });
    }
    if (method === 'users.info') {
      if (token !== options.botToken) return answer(200, { ok: false, error: 'invalid_auth' });
      if (!options.people) return answer(200, { ok: false, error: 'missing_scope', needed: 'users:read', provided: 'chat:write' });
      const id = String(body.user ?? '');
      const name = options.people[id];
      if (name === undefined) return answer(200, { ok: false, error: 'user_not_found' });
      return answer(200, { ok: true, user: { id, team_id: FAKE_TEAM.id, name: name.toLowerCase().replace(/\s+/g, '.'), real_name: name, profile: { real_name: name, display_name: name } } });
    }
    if (method === 'chat.update') {
      if (token !== options.botToken) return answer(200, { ok: false, error: 'invalid_auth' });
      // Every Web API method has its rate limit; edits of a streamed reply meet it as posts do.
      const retryAfter = limited(method, body);
      if (retryAfter !== undefined) return answer(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(retryAfter) });
      const post = posts.find((p) => p.channel === String(body.channel) && p.ts === String(body.ts));
      if (!post) return answer(200, { ok: false, error: 'message_not_found' });
      const text = typeof body.text === 'string' ? body.text : '';
      if (!text) return answer(200, { ok: false, error: 'no_text' });
      if (text.length > 40_000) return answer(200, { ok: false, error: 'msg_too_long' });
      post.text = text;
      post.edits = (post.edits ?? 0) + 1;
      return answer(200, { ok: true, channel: post.channel, ts: post.ts, text });
    }
    answer(200, { ok: false, error: 'unknown_method' });
  });

  const wss = new WebSocketServer({ server, autoPong: false });
  wss.on('connection', (ws) => {
    connections += 1;
    const conn: Conn = {
      n: connections,
      ws,
      deaf: false,
      draining: false,
      ping: setInterval(() => conn.deaf !== 'no-pong' && ws.readyState === ws.OPEN && ws.ping(), options.pingIntervalMs ?? 1_000),
    };
    conns.add(conn);
    ws.on('ping', (data) => conn.deaf !== 'no-pong' && ws.pong(data));
    ws.on('message', (data) => {
      try {
        const m = JSON.parse(String(data)) as { envelope_id?: string };
        const e = m.envelope_id ? envelopes.get(m.envelope_id) : undefined;
        if (e && !e.acked) {
          e.acked = true;
          e.ackedAt = Date.now();
          clearTimeout(e.retry);
        }
      } catch {
        /* a client sending garbage is not the fake's problem */
      }
    });
    ws.on('close', () => {
      clearInterval(conn.ping);
      conns.delete(conn);
    });
    ws.send(JSON.stringify({ type: 'hello', num_connections: conns.size, debug_info: { host: 'fake-slack' }, connection_info: { app_id: 'A0FAKE' } }));
    // Slack redelivers what was never acked to the next connection.
    for (const e of envelopes.values()) if (!e.acked) deliver(e, conn);
  });

  const usable = (c: Conn | undefined): c is Conn => c !== undefined && !c.deaf && c.ws.readyState === c.ws.OPEN;

  /** The newest healthy connection, preferring one that was not told to go; a draining one is still open. */
  function live(): Conn | undefined {
    const open = [...conns].reverse().filter(usable);
    return open.find((c) => !c.draining) ?? open[0];
  }

  function deliver(e: Envelope, conn: Conn | undefined = live()): void {
    if (!conn) return;
    e.deliveries += 1;
    e.conn = conn;
    const retry = e.deliveries - 1;
    const reason = retry ? 'timeout' : '';
    deliveries.push({ id: e.id, connection: conn.n, retry_attempt: retry, retry_reason: reason, at: Date.now() });
    conn.ws.send(JSON.stringify({ envelope_id: e.id, type: 'events_api', payload: e.payload, accepts_response_payload: false, retry_attempt: retry, retry_reason: reason }));
    // No ack in time: Slack sends it again on the same connection while that one lives, a few times, then stops.
    clearTimeout(e.retry);
    if (!e.acked && retry < maxRetries) e.retry = setTimeout(() => !e.acked && deliver(e, usable(e.conn) ? e.conn : live()), ackTimeoutMs);
  }

  function push(payload: unknown): string {
    const e: Envelope = { id: `env-${++seq}-${Math.random().toString(36).slice(2, 8)}`, payload, acked: false, deliveries: 0 };
    envelopes.set(e.id, e);
    deliver(e);
    return e.id;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/api/`,
    posts,
    calls,
    push,
    /** Sends an envelope again (as Slack does after a missed ack), acked or not. */
    redeliver: (id: string) => deliver(envelopes.get(id)!),
    /** Any frame, as is, to the live connection: for malformed input. */
    sendRaw: (frame: string) => live()?.ws.send(frame),
    acked: (id: string) => envelopes.get(id)?.acked === true,
    /** When the first ack of the envelope arrived. */
    ackedAt: (id: string) => envelopes.get(id)?.ackedAt,
    /** Every envelope frame sent, oldest first: retries and redeliveries included. */
    deliveries,
    unacked: () => [...envelopes.values()].filter((e) => !e.acked).map((e) => e.id),
    get connections() {
      return connections;
    },
    get open() {
      return [...conns].filter((c) => c.ws.readyState === c.ws.OPEN).length;
    },
    /** Connections the fake closed itself, after a `disconnect` message the client had not acted on yet. */
    get serverCloses() {
      return serverCloses;
    },
    /**
     * Tells the open connections to go (`refresh_requested`, or `warning`), then closes them itself `closeAfterMs`
     * later as Slack does: a client that has not reconnected by then loses the connection anyway.
     */
    disconnect: (reason: 'refresh_requested' | 'warning' = 'refresh_requested', closeAfterMs = options.disconnectCloseMs ?? 300) => {
      for (const c of conns) {
        if (c.ws.readyState !== c.ws.OPEN) continue;
        c.draining = true;
        c.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'fake-slack' } }));
        const close = () => {
          if (c.ws.readyState !== c.ws.OPEN) return;
          serverCloses += 1;
          c.ws.close(1001, 'disconnect');
          // A peer that never answers the close frame is cut off, as a server does.
          setTimeout(() => c.ws.readyState !== c.ws.CLOSED && c.ws.terminate(), 1_000).unref();
        };
        if (closeAfterMs <= 0) close();
        else setTimeout(close, closeAfterMs).unref();
      }
    },
    /** The open connections stop delivering (and, for no-pong, stop answering pings); new ones are healthy. */
    deafen: (how: 'silent' | 'no-pong') => {
      for (const c of conns) c.deaf = how;
    },
    /**
     * The next `times` calls of `method` (chat.postMessage or chat.update; those `when` accepts, if given) made outside
     * a Retry-After window get HTTP 429 with `Retry-After: retryAfterSeconds`; until that is over, every call of the
     * method in that channel gets a 429 with what is left. Replaces what was armed for that method.
     */
    rateLimitNext: (retryAfterSeconds: number, times = 1, limit: { method?: 'chat.postMessage' | 'chat.update'; when?: RateLimit['when'] } = {}) => {
      const method = limit.method ?? 'chat.postMessage';
      const armed = Array.from({ length: times }, () => ({ method, retryAfter: retryAfterSeconds, ...(limit.when ? { when: limit.when } : {}) }));
      rateLimits = [...rateLimits.filter((l) => l.method !== method), ...armed];
    },
    async close() {
      if (!server.listening) return;
      for (const e of envelopes.values()) clearTimeout(e.retry);
      for (const c of conns) c.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type SlackFake = Awaited<ReturnType<typeof startSlackFake>>;

/** The Web API client posts application/x-www-form-urlencoded (JSON for some callers): both are read. */
async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (!raw) return {};
  if ((req.headers['content-type'] ?? '').includes('application/json')) return JSON.parse(raw) as Record<string, unknown>;
  return Object.fromEntries(new URLSearchParams(raw));
}

function botEcho(post: Post) {
  return {
    type: 'event_callback',
    team_id: FAKE_TEAM.id,
    api_app_id: 'A0FAKE',
    event: { type: 'message', channel: post.channel, bot_id: FAKE_BOT.botId, user: FAKE_BOT.userId, text: post.text, ts: post.ts, ...(post.thread_ts ? { thread_ts: post.thread_ts } : {}) },
    event_id: `EvBOT${post.ts.replace('.', '')}`,
    event_time: Math.floor(Date.now() / 1000),
  };
}
