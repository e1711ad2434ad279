import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { ApiKeyRecord, AuthStore } from '../../core/auth.js';
import type { Config } from '../../core/config.js';
import type { Reply } from '../../core/event.js';
import type { TurnClient } from './turns.js';

type Env = { Variables: { key: ApiKeyRecord } };

/** OpenAI's error shape, so every OpenAI client reports our errors properly. */
const oaiError = (c: Context, status: 400 | 401 | 404 | 429 | 500 | 503, message: string, type: string, code: string | null = null) =>
  c.json({ error: { message, type, param: null, code } }, status);

const content = z.union([
  z.string(),
  z.array(z.union([z.object({ type: z.literal('text'), text: z.string() }).passthrough(), z.object({ type: z.string() }).passthrough()])),
]);
/** What we read of a request; other OpenAI parameters (temperature, …) are accepted and ignored. */
const requestSchema = z
  .object({
    model: z.string().min(1).max(64),
    messages: z
      .array(z.object({ role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']), content: content.nullable().optional() }).passthrough())
      .min(1)
      .max(200),
    stream: z.boolean().optional(),
  })
  .passthrough();

const textOf = (c: z.infer<typeof content> | null | undefined): string =>
  typeof c === 'string' ? c : (c ?? []).map((p) => ('text' in p && typeof p.text === 'string' ? p.text : '')).join('');

/**
 * The headless OpenAI-compatible API. Stateless: the request's user/assistant messages are the context (the
 * assistant's own system prompt is always used; a caller's system messages cannot replace it). Each call is a turn
 * through the same plugs, audit and backends as every connector, with the key as the sender (`api:<key id>`).
 */
export function openaiRoutes(deps: { config: Config; auth: AuthStore; turns: TurnClient; assistants?: () => Promise<string[]> }): Hono<Env> {
  const app = new Hono<Env>();
  // Assistants made in the dashboard are models too, listed from the moment they are saved.
  const assistants = deps.assistants ?? (async () => Object.keys(deps.config.assistants));
  const visible = async (key: ApiKeyRecord) => (await assistants()).filter((a) => !key.assistant || key.assistant === a);

  app.use('/v1/*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const key = header.startsWith('Bearer ') ? await deps.auth.findApiKey(header.slice(7).trim()) : undefined;
    if (!key) return oaiError(c, 401, 'Invalid or missing API key.', 'invalid_request_error', 'invalid_api_key');
    c.set('key', key);
    await next();
  });

  app.get('/v1/models', async (c) =>
    c.json({ object: 'list', data: (await visible(c.get('key'))).map((id) => ({ id, object: 'model', created: 0, owned_by: 'monkeyclaw' })) }),
  );

  app.post('/v1/chat/completions', bodyLimit({ maxSize: 2 * 1024 * 1024, onError: (c) => oaiError(c, 400, 'Request body too large.', 'invalid_request_error') }), async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return oaiError(c, 400, 'The request body is not valid JSON.', 'invalid_request_error');
    }
    const parsed = requestSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return oaiError(c, 400, `Invalid request: ${issue.path.join('.') || 'body'}: ${issue.message}`, 'invalid_request_error');
    }
    const body = parsed.data;
    const key = c.get('key');
    if (!(await visible(key)).includes(body.model)) return oaiError(c, 404, `The model '${body.model}' does not exist.`, 'invalid_request_error', 'model_not_found');
    const turns = body.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => ({ role: m.role as 'user' | 'assistant', content: textOf(m.content) }));
    const last = turns.at(-1);
    if (!last || last.role !== 'user') return oaiError(c, 400, 'The last message must come from the user.', 'invalid_request_error');

    let outcome;
    try {
      outcome = await deps.turns.ask({
        conversation: { id: key.id, kind: 'dm' },
        sender: { id: key.id, name: key.name.slice(0, 256), isBot: false },
        text: last.content,
        context: turns.slice(0, -1),
        assistant: body.model,
      });
    } catch (error) {
      return oaiError(c, 400, `Invalid request: ${(error as Error).message.slice(0, 300)}`, 'invalid_request_error');
    }
    if (outcome.kind === 'timeout') return oaiError(c, 503, 'The assistant did not answer in time.', 'server_error');
    if (outcome.kind === 'silent') return oaiError(c, 400, 'The request was refused by policy.', 'invalid_request_error', 'content_policy_violation');
    // A chat command's answer (`/help`) is an answer, not a refusal.
    const notice = outcome.replies.find((r) => r.kind === 'notice' && r.haltedBy !== 'commands');
    if (notice) return noticeError(c, notice);
    const text = outcome.replies.map((r) => r.text).join('\n\n');
    const id = `chatcmpl-${outcome.replies[0]!.eventId}`;
    const created = Math.floor(Date.now() / 1000);
    if (!body.stream) {
      return c.json({
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      });
    }
    return streamSSE(c, async (stream) => {
      const chunk = (delta: object, finish: string | null) =>
        stream.writeSSE({ data: JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] }) });
      await chunk({ role: 'assistant', content: '' }, null);
      for (const piece of text.match(/\S*\s*/gu) ?? []) if (piece) await chunk({ content: piece }, null);
      await chunk({}, 'stop');
      await stream.writeSSE({ data: '[DONE]' });
    });
  });

  app.all('/v1/*', (c) => oaiError(c, 404, `Unknown endpoint ${c.req.method} ${c.req.path}.`, 'invalid_request_error', 'unknown_url'));
  return app;
}

/** A plug's notice becomes the status an OpenAI client expects: limits are 429s, anything else is unavailable. */
function noticeError(c: Context, notice: Reply) {
  if (notice.haltedBy === 'rate-limit') return oaiError(c, 429, notice.text, 'rate_limit_exceeded', 'rate_limit_exceeded');
  if (notice.haltedBy === 'budget') return oaiError(c, 429, notice.text, 'insufficient_quota', 'insufficient_quota');
  if (notice.haltedBy) return oaiError(c, 400, notice.text, 'invalid_request_error', 'content_policy_violation');
  return oaiError(c, 503, notice.text, 'server_error');
}
