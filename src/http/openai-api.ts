import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { admittedNow, type AccessStore } from '../../core/access.js';
import type { ApiKeyRecord, AuthStore } from '../../core/auth.js';
import type { AuditInput } from '../../core/audit.js';
import type { Config } from '../../core/config.js';
import { RefusalReporter } from '../../core/refusals.js';
import { answersCaller, InvalidPayloadError, MAX_ATTACHMENTS, MAX_CONTEXT_CHARS, MAX_CONTEXT_MESSAGES, MAX_TEXT_CHARS, type ChannelEventInput, type Reply } from '../../core/event.js';
import { STOPPED_TEXT, type TurnClient, type TurnOutcome } from './turns.js';
import { httpError } from './errors.js';

type Env = { Variables: { key: ApiKeyRecord } };

/** OpenAI's error shape, so every OpenAI client reports our errors properly. */
const oaiError = (c: Context, status: 400 | 401 | 403 | 404 | 413 | 429 | 500 | 503, message: string, type: string, code: string | null = null, param: string | null = null) =>
  c.json(httpError(message, type, code, param), status);

const content = z.union([
  z.string(),
  z.array(z.union([z.object({ type: z.literal('text'), text: z.string() }).passthrough(), z.object({ type: z.string() }).passthrough()])),
]);
/**
 * What we read of a request. Sampling parameters are the assistant's to set, so they are ignored, but checked as
 * OpenAI checks them: a client sending `temperature: "hot"` has a bug it should hear of. Others pass unread.
 */
const requestSchema = z
  .object({
    model: z.string().min(1).max(64),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    presence_penalty: z.number().min(-2).max(2).nullable().optional(),
    frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
    max_tokens: z.number().int().positive().nullable().optional(),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    // One answer per request is all a turn gives.
    n: z.literal(1, { message: 'only n=1 is supported' }).nullable().optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
    user: z.string().max(256).optional(),
    seed: z.number().int().nullable().optional(),
    logprobs: z.boolean().nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    logit_bias: z.record(z.string().regex(/^\d+$/), z.number().min(-100).max(100)).nullable().optional(),
    response_format: z.object({ type: z.enum(['text', 'json_object', 'json_schema']) }).passthrough().nullable().optional(),
    tools: z.array(z.object({ type: z.string() }).passthrough()).nullable().optional(),
    messages: z
      .array(z.object({ role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']), content: content.nullable().optional() }).passthrough())
      .min(1),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
  })
  .passthrough();

/** What a turn cost; zero for an answer no backend wrote (an echo, `/help`), as OpenAI clients expect a figure. */
function usageOf(replies: Reply[]): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const prompt = replies.reduce((n, r) => n + (r.usage?.inputTokens ?? 0), 0);
  const completion = replies.reduce((n, r) => n + (r.usage?.outputTokens ?? 0), 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

const answers = (replies: Reply[]): Reply[] => replies.filter(answersCaller);

/**
 * Turns one key may have running at once. Each request is a turn of its own (it brings its own context), so a
 * caller's requests run side by side; this keeps one caller from taking every worker slot (a hung backend holds a
 * slot for minutes) and from overrunning its budget by more than a few turns, since usage counts once a turn ends.
 */
export const MAX_TURNS_PER_KEY = 4;

/** A message's text; its text parts as lines of their own ("part A" and "part B" are not "part Apart B"). */
const textOf = (c: z.infer<typeof content> | null | undefined): string =>
  typeof c === 'string' ? c : (c ?? []).flatMap((p) => ('text' in p && typeof p.text === 'string' ? [p.text] : [])).join('\n');

/** The parts of a message that are not text (OpenAI's `image_url`, `input_audio`, `file`), as attachments' metadata. */
function attachmentsOf(c: z.infer<typeof content> | null | undefined): NonNullable<ChannelEventInput['attachments']> {
  if (typeof c === 'string' || !c) return [];
  const kinds: Record<string, 'image' | 'audio' | 'file'> = { image_url: 'image', input_audio: 'audio', file: 'file' };
  return c.filter((p) => p.type !== 'text').slice(0, MAX_ATTACHMENTS).map((p) => ({ kind: kinds[p.type] ?? 'other' }));
}

/**
 * The headless OpenAI-compatible API. Stateless: the request's user/assistant messages are the context (the
 * assistant's own system prompt is always used; a caller's system messages cannot replace it). Each call is a turn
 * through the same plugs, audit and backends as every connector, with the key as the sender (`api:<key id>`).
 */
export function openaiRoutes(deps: {
  config: Config;
  auth: AuthStore;
  turns: TurnClient;
  assistants?: () => Promise<string[]>;
  /** The run-time access changes, to tell a key access refuses from a request a plug refused. */
  access?: Pick<AccessStore, 'overrides'>;
  /** Where refused requests are audited (`api.rejected`, at most once a minute per caller, with the count since). */
  audit?: (entries: AuditInput[]) => Promise<void>;
}): Hono<Env> {
  const app = new Hono<Env>();
  const refusals = new RefusalReporter(
    (actor, why, refusedSinceLast) => deps.audit?.([{ kind: 'api.rejected', actor, data: { why, refusedSinceLast } }]).catch(() => undefined),
    Date.now,
  );
  /** A request refused before it became a turn: answered in OpenAI's shape, and audited (turns audit themselves). */
  const reject = (c: Context<Env>, status: 400 | 401 | 404 | 413 | 429, message: string, type: string, code: string | null = null, param: string | null = null) => {
    const key = c.get('key') as ApiKeyRecord | undefined;
    refusals.refused(key ? `api:${key.id}` : 'api:unauthenticated', `${status}: ${message.slice(0, 200)}`);
    return oaiError(c, status, message, type, code, param);
  };
  // Assistants made in the dashboard are models too, listed from the moment they are saved.
  const assistants = deps.assistants ?? (async () => Object.keys(deps.config.assistants));
  const visible = async (key: ApiKeyRecord) => (await assistants()).filter((a) => !key.assistant || key.assistant === a);
  /** A key access refuses (`access.deny`) is refused the list as it is refused the assistants: 403, as a chat gets. */
  const denied = async (c: Context<Env>): Promise<Response | undefined> => {
    const key = c.get('key') as ApiKeyRecord;
    const asker = { platform: 'api', sender: { id: key.id, isBot: false }, conversation: { id: key.id, kind: 'dm' as const } };
    if (!deps.access || (await admittedNow(deps.config.access, deps.access, asker))) return undefined;
    return oaiError(c, 403, 'This API key may not use the assistant (access policy).', 'permission_error', 'permission_denied');
  };
  const running = new Map<string, number>();

  app.use('/v1/*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    // Auth schemes are case-insensitive (RFC 9110): `bearer` is as good as `Bearer`.
    const token = /^bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    const key = token ? await deps.auth.findApiKey(token) : undefined;
    if (!key) return reject(c, 401, 'Invalid or missing API key.', 'invalid_request_error', 'invalid_api_key');
    c.set('key', key);
    await next();
  });

  const model = (id: string) => ({ id, object: 'model', created: 0, owned_by: 'monkeyclaw' });
  app.get('/v1/models', async (c) => (await denied(c)) ?? c.json({ object: 'list', data: (await visible(c.get('key'))).map(model) }));
  // The official clients' models.retrieve; an assistant the key may not use does not exist for it.
  app.get('/v1/models/:id', async (c) => {
    const refused = await denied(c);
    if (refused) return refused;
    const id = c.req.param('id');
    if (!(await visible(c.get('key'))).includes(id)) return oaiError(c, 404, `The model '${id}' does not exist.`, 'invalid_request_error', 'model_not_found');
    return c.json(model(id));
  });

  app.post('/v1/chat/completions', bodyLimit({ maxSize: 2 * 1024 * 1024, onError: (c) => reject(c, 413, 'Request body too large (over 2 MiB).', 'invalid_request_error') }), async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return reject(c, 400, 'The request body is not valid JSON.', 'invalid_request_error');
    }
    const parsed = requestSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const param = issue.path.length ? String(issue.path[0]) : null;
      return reject(c, 400, `Invalid request: ${issue.path.join('.') || 'body'}: ${issue.message}`, 'invalid_request_error', null, param);
    }
    const body = parsed.data;
    if (body.stream_options && body.stream !== true) return reject(c, 400, 'stream_options is only allowed when stream is true.', 'invalid_request_error', null, 'stream_options');
    const key = c.get('key');
    if (!(await visible(key)).includes(body.model)) return reject(c, 404, `The model '${body.model}' does not exist.`, 'invalid_request_error', 'model_not_found');
    // The request's messages are the context (DESIGN), after the assistant's own system prompt, which they cannot
    // replace: a caller's system (or developer) message is one more instruction. Tool results have no place here.
    const roleOf = (role: string) => (role === 'developer' ? 'system' : role) as 'system' | 'user' | 'assistant';
    const said = body.messages.filter((m) => m.role !== 'tool' && m.role !== 'function');
    const turns = said.map((m) => ({ role: roleOf(m.role), content: textOf(m.content) }));
    const last = turns.at(-1);
    if (!last || last.role !== 'user') return reject(c, 400, 'The last message must come from the user.', 'invalid_request_error', null, 'messages');
    // What the gateway does not pass on is named to the assistant, as every connector names a photo or a file.
    const attachments = attachmentsOf(said.at(-1)!.content);
    // Nothing to answer is a bad request, not a refusal by policy (which is what the turn would end in).
    if (!last.content.trim() && attachments.length === 0) return reject(c, 400, 'The last user message has no text.', 'invalid_request_error', null, 'messages');
    if (last.content.length > MAX_TEXT_CHARS) {
      return reject(c, 400, `The last user message is longer than ${MAX_TEXT_CHARS.toLocaleString('en')} characters.`, 'invalid_request_error', 'context_length_exceeded', 'messages');
    }
    const earlier = turns.slice(0, -1);
    if (earlier.length > MAX_CONTEXT_MESSAGES) {
      const said = `The request brings ${earlier.length.toLocaleString('en')} earlier messages; the gateway takes up to ${MAX_CONTEXT_MESSAGES.toLocaleString('en')}.`;
      return reject(c, 400, said, 'invalid_request_error', 'context_length_exceeded', 'messages');
    }
    if (earlier.some((m) => m.content.length > MAX_TEXT_CHARS) || earlier.reduce((n, m) => n + m.content.length, 0) > MAX_CONTEXT_CHARS) {
      const limits = `${MAX_TEXT_CHARS.toLocaleString('en')} characters a message, ${MAX_CONTEXT_CHARS.toLocaleString('en')} in all`;
      return reject(c, 400, `The earlier messages are longer than the gateway takes (${limits}).`, 'invalid_request_error', 'context_length_exceeded', 'messages');
    }

    const input = {
      conversation: { id: key.id, kind: 'dm' as const },
      sender: { id: key.id, name: key.name.slice(0, 256), isBot: false },
      text: last.content,
      attachments,
      context: earlier,
      assistant: body.model,
    };
    const created = Math.floor(Date.now() / 1000);
    // Streaming: the response starts with the first draft of the reply, so a caller reads while the backend writes.
    // A turn that ends before any draft (refused, limited, answered at once) is answered as below, status and all.
    const drafts: string[] = [];
    let wake = () => {};
    const firstDraft = new Promise<void>((resolve) => (wake = resolve));
    const inFlight = running.get(key.id) ?? 0;
    if (inFlight >= MAX_TURNS_PER_KEY) {
      c.header('retry-after', '1');
      return reject(c, 429, `This key already has ${MAX_TURNS_PER_KEY} requests running; send more once one has finished.`, 'rate_limit_exceeded', 'rate_limit_exceeded');
    }
    running.set(key.id, inFlight + 1);
    // A caller that closes its connection gives its turn up: its slot is free at once, and the backend call stops.
    const asked = deps.turns
      .ask(input, body.stream ? (text) => (drafts.push(text), wake()) : undefined, c.req.raw.signal)
      .then((outcome) => ({ outcome }), (error: unknown) => ({ error: error as Error }))
      .finally(() => (running.get(key.id)! > 1 ? running.set(key.id, running.get(key.id)! - 1) : running.delete(key.id)));
    const early = await Promise.race([asked, firstDraft.then(() => undefined)]);
    const includeUsage = body.stream_options?.include_usage === true;
    if (early === undefined) return streamDrafts(c, { model: body.model, created, includeUsage }, drafts, (w) => (wake = w), asked);

    if ('error' in early) {
      // What the checks above let through and the event's own validation refused is still the caller's; anything
      // else (the queue or the database failing) is ours, and a retry later may succeed.
      if (early.error instanceof InvalidPayloadError) return reject(c, 400, `Invalid request: ${early.error.issues.join('; ').slice(0, 300)}`, 'invalid_request_error');
      return oaiError(c, 503, 'The gateway could not take the request just now; please try again.', 'server_error');
    }
    const { outcome } = early;
    if (outcome.kind === 'timeout') return oaiError(c, 503, 'The assistant did not answer in time.', 'server_error');
    if (outcome.kind === 'stopped') return oaiError(c, 503, STOPPED_TEXT, 'server_error');
    // Nobody reads this: the caller went away.
    if (outcome.kind === 'gone') return oaiError(c, 503, 'The request was given up.', 'server_error');
    // Nothing at all came of it. Access refusing this key (`access.deny`) says nothing to those it refuses: the key
    // is valid, so not 401; the request is fine, so not 400. A key access admits was stopped by another plug without
    // a word (guard's `mode: halt`): that refused the request itself, and the key is not to blame.
    if (outcome.kind === 'silent') {
      const asker = { platform: 'api', sender: input.sender, conversation: input.conversation };
      if (deps.access && (await admittedNow(deps.config.access, deps.access, asker))) {
        return oaiError(c, 400, "The request was refused by the assistant's policy.", 'invalid_request_error', 'content_policy_violation');
      }
      return oaiError(c, 403, 'This API key may not use the assistant (access policy).', 'permission_error', 'permission_denied');
    }
    const answer = answers(outcome.replies);
    const notice = outcome.replies.find((r) => !answer.includes(r));
    if (notice) return noticeError(c, notice);
    const text = answer.map((r) => r.text).join('\n\n');
    const usage = usageOf(outcome.replies);
    const id = `chatcmpl-${outcome.replies[0]!.eventId}`;
    if (!body.stream) {
      return c.json({
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', logprobs: null }],
        usage,
      });
    }
    return streamSSE(c, async (stream) => {
      const chunk = completionChunk(stream, id, created, body.model);
      await chunk({ role: 'assistant', content: '' }, null);
      await chunk({ content: text }, null);
      await chunk({}, 'stop');
      if (includeUsage) await usageChunk(stream, id, created, body.model, usage);
      await stream.writeSSE({ data: '[DONE]' });
    });
  });

  app.all('/v1/*', (c) => oaiError(c, 404, `Unknown endpoint ${c.req.method} ${c.req.path}.`, 'invalid_request_error', 'unknown_url'));
  return app;
}

type Asked = { outcome: TurnOutcome } | { error: Error };

type Stream = Parameters<Parameters<typeof streamSSE>[1]>[0];

const completionChunk = (stream: Stream, id: string, created: number, model: string) => (delta: object, finish: string | null) =>
  stream.writeSSE({ data: JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] }) });

/** `stream_options.include_usage`: one more chunk before [DONE], with no choices and the usage. */
const usageChunk = (stream: Stream, id: string, created: number, model: string, usage: ReturnType<typeof usageOf>) =>
  stream.writeSSE({ data: JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage }) });

/**
 * Streams a reply while it is written: each draft holds the whole text so far, so what it adds to the last one is
 * sent as a delta. An OpenAI stream cannot take text back: when the final reply does not continue what was sent (a
 * fallback started over mid-reply), it follows as a new paragraph; a turn that ends in a notice or fails ends the
 * stream with OpenAI's error object.
 */
function streamDrafts(c: Context, { model, created, includeUsage }: { model: string; created: number; includeUsage: boolean }, drafts: string[], onDraft: (wake: () => void) => void, asked: Promise<Asked>) {
  return streamSSE(c, async (stream) => {
    const id = `chatcmpl-${randomUUID()}`;
    const chunk = completionChunk(stream, id, created, model);
    let sent = '';
    const send = async (text: string) => {
      if (!text.startsWith(sent)) return;
      if (text.length > sent.length) await chunk({ content: text.slice(sent.length) }, null);
      sent = text;
    };
    await chunk({ role: 'assistant', content: '' }, null);
    let done: Asked | undefined;
    const finished = asked.then((a) => void (done = a));
    while (!done) {
      while (drafts.length > 0) await send(drafts.shift()!);
      // A draft that came while the last ones were sent wakes the next round at once.
      await Promise.race([finished, new Promise<void>((resolve) => (onDraft(resolve), drafts.length > 0 && resolve()))]);
    }
    for (const text of drafts.splice(0)) await send(text);
    const outcome = 'outcome' in done ? done.outcome : undefined;
    const answer = outcome?.kind === 'replies' ? answers(outcome.replies) : [];
    if (answer.length === 0) {
      const why = outcome?.kind === 'replies' ? outcome.replies[0]?.text : outcome?.kind === 'stopped' ? STOPPED_TEXT : 'The assistant did not answer.';
      await stream.writeSSE({ data: JSON.stringify({ error: { message: why ?? 'The assistant did not answer.', type: 'server_error', param: null, code: null } }) });
      return;
    }
    const text = answer.map((r) => r.text).join('\n\n');
    if (text.startsWith(sent)) await send(text);
    else await chunk({ content: `\n\n${text}` }, null);
    await chunk({}, 'stop');
    if (includeUsage) await usageChunk(stream, id, created, model, usageOf(answer));
    await stream.writeSSE({ data: '[DONE]' });
  });
}

/** A plug's notice becomes the status an OpenAI client expects: limits are 429s, anything else is unavailable. */
function noticeError(c: Context, notice: Reply) {
  // OpenAI's clients wait this long before their retry (seconds, rounded up).
  if (notice.retryAfterMs !== undefined) c.header('retry-after', String(Math.max(1, Math.ceil(notice.retryAfterMs / 1000))));
  if (notice.haltedBy === 'rate-limit') return oaiError(c, 429, notice.text, 'rate_limit_exceeded', 'rate_limit_exceeded');
  if (notice.haltedBy === 'budget') return oaiError(c, 429, notice.text, 'insufficient_quota', 'insufficient_quota');
  if (notice.haltedBy) return oaiError(c, 400, notice.text, 'invalid_request_error', 'content_policy_violation');
  return oaiError(c, 503, notice.text, 'server_error');
}
