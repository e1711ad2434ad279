import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A loopback fake of Slack: the Web API methods the connector calls (auth.test, chat.postMessage,
 * apps.connections.open) and a Socket Mode WebSocket that behaves as Slack documents it: `hello` on connect,
 * `events_api` envelopes that must be acked with `{envelope_id}`, un-acked envelopes redelivered on the next
 * connection, `disconnect` messages, pings. Test controls push events, rate-limit posts and make a socket deaf.
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
  deliveries: number;
}

/** silent: pings and pongs go on but no envelope is delivered; no-pong: nothing at all, not even pongs. */
type Deafness = false | 'silent' | 'no-pong';
interface Conn {
  ws: WebSocket;
  deaf: Deafness;
  ping: NodeJS.Timeout;
}

export const FAKE_TEAM = { id: 'T0001ACME', name: 'Acme' };
export const FAKE_BOT = { userId: 'U0LAN0Z89', botId: 'B0LAN0Z89', name: 'monkeyclaw' };

/**
 * authDelayMs: auth.test answers only after this long (a slow network at the connector's start). people: the
 * workspace's members as users.info knows them (id → display name); without them users.info says missing_scope,
 * as for an app installed without users:read.
 */
export async function startSlackFake(options: { botToken: string; appToken: string; pingIntervalMs?: number; echoBotPosts?: boolean; authDelayMs?: number; people?: Record<string, string> }) {
  const posts: Post[] = [];
  const calls: Array<{ method: string; at: number; status: number }> = [];
  const envelopes = new Map<string, Envelope>();
  const conns = new Set<Conn>();
  let rateLimits: Array<{ retryAfter: number }> = [];
  let seq = 0;
  let connections = 0;
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
      const limited = rateLimits.shift();
      if (limited) return answer(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(limited.retryAfter) });
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
      ws,
      deaf: false,
      ping: setInterval(() => conn.deaf !== 'no-pong' && ws.readyState === ws.OPEN && ws.ping(), options.pingIntervalMs ?? 1_000),
    };
    conns.add(conn);
    ws.on('ping', (data) => conn.deaf !== 'no-pong' && ws.pong(data));
    ws.on('message', (data) => {
      try {
        const m = JSON.parse(String(data)) as { envelope_id?: string };
        const e = m.envelope_id ? envelopes.get(m.envelope_id) : undefined;
        if (e) e.acked = true;
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

  function live(): Conn | undefined {
    return [...conns].reverse().find((c) => !c.deaf && c.ws.readyState === c.ws.OPEN);
  }

  function deliver(e: Envelope, conn: Conn | undefined = live()): void {
    if (!conn) return;
    e.deliveries += 1;
    const retry = e.deliveries - 1;
    conn.ws.send(JSON.stringify({ envelope_id: e.id, type: 'events_api', payload: e.payload, accepts_response_payload: false, retry_attempt: retry, retry_reason: retry ? 'timeout' : '' }));
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
    unacked: () => [...envelopes.values()].filter((e) => !e.acked).map((e) => e.id),
    get connections() {
      return connections;
    },
    get open() {
      return [...conns].filter((c) => c.ws.readyState === c.ws.OPEN).length;
    },
    disconnect: (reason = 'refresh_requested') => {
      for (const c of conns) c.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'fake-slack' } }));
    },
    /** The open connections stop delivering (and, for no-pong, stop answering pings); new ones are healthy. */
    deafen: (how: 'silent' | 'no-pong') => {
      for (const c of conns) c.deaf = how;
    },
    rateLimitNext: (retryAfterSeconds: number, times = 1) => {
      rateLimits = Array.from({ length: times }, () => ({ retryAfter: retryAfterSeconds }));
    },
    async close() {
      if (!server.listening) return;
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
