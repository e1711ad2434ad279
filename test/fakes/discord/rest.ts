import type { IncomingMessage, ServerResponse } from 'node:http';
import { fixture, type FakeDiscordState, type Json } from './state.js';

const NONCE_WINDOW_MS = 5 * 60_000;
const MAX_CONTENT = 2_000;

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): number {
  // Every answer carries a bucket with room to spare, so discord.js's bucket logic runs without slowing the tests.
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-ratelimit-limit': '50',
    'x-ratelimit-remaining': '49',
    'x-ratelimit-reset-after': '1',
    'x-ratelimit-bucket': 'fakebucket',
    ...headers,
  });
  res.end(body === undefined ? undefined : JSON.stringify(body));
  return status;
}

async function readJson(req: IncomingMessage): Promise<Json | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

const invalidForm = (field: string, code: string, message: string) => ({
  code: 50035,
  message: 'Invalid Form Body',
  errors: { [field]: { _errors: [{ code, message }] } },
});

/**
 * Discord's REST API as far as the connector uses it, under /api/v10. Authorization is checked on every route; a
 * 429 the test queued is answered with Discord's documented body and headers (Retry-After, X-RateLimit-*).
 */
export async function handleRest(state: FakeDiscordState, gatewayUrl: string, req: IncomingMessage, res: ServerResponse): Promise<number> {
  const url = new URL(req.url ?? '/', 'http://fake');
  const path = url.pathname.replace(/^\/api\/v10/, '');
  const method = req.method ?? 'GET';
  if (!url.pathname.startsWith('/api/v10/')) return send(res, 404, { message: '404: Not Found', code: 0 });
  if (req.headers.authorization !== `Bot ${state.token}`) return send(res, 401, { message: '401: Unauthorized', code: 0 });

  const failure = state.failures.findIndex((f) => f.method === method && f.pattern.test(path));
  if (failure >= 0) {
    const [f] = state.failures.splice(failure, 1);
    return send(res, f!.status, { message: `${f!.status}: Internal Server Error`, code: 0 });
  }
  const limit = state.rateLimits.findIndex((r) => r.method === method && r.pattern.test(path));
  if (limit >= 0) {
    const [r] = state.rateLimits.splice(limit, 1);
    const body = { ...fixture<Json>('rate-limited'), retry_after: r!.retryAfter, global: r!.global };
    return send(res, 429, body, {
      'retry-after': String(r!.retryAfter),
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset-after': String(r!.retryAfter),
      'x-ratelimit-scope': r!.global ? 'global' : 'user',
      ...(r!.global ? { 'x-ratelimit-global': 'true' } : {}),
    });
  }

  if (method === 'GET' && path === '/gateway/bot') {
    return send(res, 200, { ...fixture<Json>('gateway-bot'), url: gatewayUrl, shards: 1 });
  }
  if (method === 'GET' && path === '/users/@me') return send(res, 200, state.bot);

  let m = /^\/channels\/(\d+)$/.exec(path);
  if (m && method === 'GET') {
    const channel = state.channels.get(m[1]!);
    return channel ? send(res, 200, channel) : send(res, 404, { message: 'Unknown Channel', code: 10003 });
  }
  m = /^\/channels\/(\d+)\/typing$/.exec(path);
  if (m && method === 'POST') {
    state.typing.push({ channelId: m[1]!, at: Date.now() });
    return send(res, 204);
  }
  m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path);
  if (m && method === 'GET') {
    const message = state.find(m[1]!, m[2]!);
    return message ? send(res, 200, message) : send(res, 404, { message: 'Unknown Message', code: 10008 });
  }
  if (m && method === 'PATCH') return editMessage(state, m[1]!, m[2]!, req, res);
  m = /^\/channels\/(\d+)\/messages$/.exec(path);
  if (m && method === 'GET') {
    if (!state.channels.has(m[1]!)) return send(res, 404, { message: 'Unknown Channel', code: 10003 });
    const after = BigInt(url.searchParams.get('after') ?? '0');
    const count = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? '50')));
    // Discord returns the `count` messages right after `after`, newest first.
    const page = (state.messages.get(m[1]!) ?? []).filter((x) => BigInt(x.id as string) > after).slice(0, count);
    return send(res, 200, page.reverse());
  }
  if (m && method === 'POST') return postMessage(state, m[1]!, req, res);
  return send(res, 404, { message: '404: Not Found', code: 0 });
}

/** Discord's edit: only the bot's own messages; content within the same limit as a post. */
async function editMessage(state: FakeDiscordState, channelId: string, messageId: string, req: IncomingMessage, res: ServerResponse): Promise<number> {
  const message = state.find(channelId, messageId);
  if (!message) return send(res, 404, { message: 'Unknown Message', code: 10008 });
  if ((message.author as Json | undefined)?.id !== state.bot.id) return send(res, 403, { message: 'Cannot edit a message authored by another user', code: 50005 });
  const body = await readJson(req);
  const content = typeof body?.content === 'string' ? body.content : '';
  if (content.length === 0) return send(res, 400, { message: 'Cannot send an empty message', code: 50006 });
  if (content.length > MAX_CONTENT) return send(res, 400, invalidForm('content', 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_CONTENT} or fewer in length.`));
  message.content = content;
  message.edited_timestamp = new Date().toISOString();
  state.edits.push({ channelId, messageId, content, at: Date.now() });
  return send(res, 200, message);
}

async function postMessage(state: FakeDiscordState, channelId: string, req: IncomingMessage, res: ServerResponse): Promise<number> {
  if (!state.channels.has(channelId)) return send(res, 404, { message: 'Unknown Channel', code: 10003 });
  const body = await readJson(req);
  if (!body) return send(res, 400, { message: '400: Bad Request', code: 50109 });
  const content = typeof body.content === 'string' ? body.content : '';
  if (content.length === 0) return send(res, 400, { message: 'Cannot send an empty message', code: 50006 });
  if (content.length > MAX_CONTENT) {
    return send(res, 400, invalidForm('content', 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_CONTENT} or fewer in length.`));
  }
  const nonce = body.nonce;
  if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length > 25)) {
    return send(res, 400, invalidForm('nonce', 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.'));
  }
  // enforce_nonce: the same author's nonce within a few minutes returns the original message, nothing new is posted.
  const seen = typeof nonce === 'string' ? state.nonces.get(nonce) : undefined;
  if (body.enforce_nonce === true && seen && Date.now() - seen.at < NONCE_WINDOW_MS) {
    state.posts.push({ channelId, body, messageId: seen.messageId, deduped: true, at: Date.now() });
    return send(res, 200, state.find(channelId, seen.messageId));
  }
  const message = state.store(state.botMessage(channelId, body));
  if (typeof nonce === 'string') state.nonces.set(nonce, { messageId: message.id as string, at: Date.now() });
  state.posts.push({ channelId, body, messageId: message.id as string, deduped: false, at: Date.now() });
  state.onBotMessage(message);
  return send(res, 200, message);
}
