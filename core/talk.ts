import type { AuditInput } from './audit.js';
import type { Backend, BackendMessage, ToolDecision, GovernedToolRequest } from './backend.js';
import { sessionWorkdir } from './backends/agent-cli.js';
import { callChain, fallbackFooter, type Usage } from './backends/chain.js';
import type { AssistantConfig } from './config.js';
import { draftStream, type DraftOptions } from './drafts.js';
import { tooLongNotice, type Address, type ChannelEvent } from './event.js';
import { runPipeline, type Context, type Pipelines } from './plug.js';
import { withParagraph } from './render/append.js';
import type { Store, TurnRecord } from './store.js';

/** An assistant as a turn needs it: its config rendered into pipelines and backends. */
export interface RuntimeAssistant {
  name: string;
  config: AssistantConfig;
  pipelines: Pipelines;
  /** Primary first, then fallbacks. */
  backends: Backend[];
}

export interface TalkDeps {
  store: Pick<Store, 'ensureSession' | 'history'> & Partial<Pick<Store, 'setPendingFallback' | 'takePendingFallback'>>;
  /** May read the store: a worker picks up assistants changed in the dashboard from the next turn. */
  assistantFor(event: ChannelEvent): RuntimeAssistant | Promise<RuntimeAssistant>;
  now(): number;
  /** History entries sent to the backend with each turn. */
  historyLimit?: number;
  /** Told of each streamed piece; a turn never waits on it. */
  onDelta?: (text: string, format: 'plain' | 'markdown') => void;
  /** Show the reply growing (a connector with `streamEdits`): drafts of it, shaped by the response and outbound plugs. */
  drafts?: Pick<DraftOptions, 'intervalMs' | 'maxChars' | 'publish' | 'onError'>;
  /** The pieces told so far are void: the primary failed mid-reply and a fallback starts over. */
  onRestart?: () => void;
  /** The workspace the config file puts a conversation in (`channels["platform:id"].workspace`), used when it is first seen. */
  workspaceFor?(event: ChannelEvent): string | undefined;
  /** The data directory: agentic CLI backends run in `<dataDir>/workspaces/<workspace>/sessions/<id>/`. */
  dataDir?: string;
  /** Decides an agentic backend's tool request (governance); without it every tool request is denied. */
  onToolRequest?: (request: GovernedToolRequest, event: ChannelEvent) => ToolDecision | Promise<ToolDecision>;
  /** Why a backend call failed, for the log (see ChainDeps). */
  onAttemptFailed?: (backend: string, error: unknown) => void;
}

const FALLBACK_CONSENT_MS = 10 * 60 * 1000;

export const UNAVAILABLE_NOTICE = 'Sorry, the assistant is unavailable right now. Please try again later.';
export const EMPTY_REPLY_NOTICE = 'The assistant answered with nothing to show.';

const isFallbackCommand = (text: string): boolean => text.trim().toLowerCase() === '/fallback';

const FALLBACK_QUESTION = "The assistant's usual model is unavailable right now. Reply /fallback to let ";
const fallbackQuestion = (next: string): string => `${FALLBACK_QUESTION}${next} answer instead.`;

/**
 * In a stateless request, where the question a `/fallback` consents to is: right before the assistant's question,
 * the last message before `/fallback` (in a stream, after what the primary wrote before it failed). Any other
 * assistant message before it consents to nothing.
 */
function askedQuestion(context: ReadonlyArray<{ role: string; content: string }>): number {
  const at = context.length - 2;
  const [question, asked] = [context[at], context[at + 1]];
  const ok = question?.role === 'user' && !isFallbackCommand(question.content) && asked?.role === 'assistant' && asked.content.includes(FALLBACK_QUESTION);
  return ok ? at : -1;
}
const NOTHING_FOR_FALLBACK = 'Nothing is waiting for /fallback: it answers a message the assistant could not, after it asked.';

export interface TalkResult {
  reply?: { text: string; format: 'plain' | 'markdown' };
  /** The notice for the sender when a plug halted with one. */
  notice?: string;
  /** The plug that stopped the turn, if one did. */
  haltedBy?: string;
  /** From the plug that stopped the turn: when trying again can succeed. */
  retryAfterMs?: number;
  /** What the backend call cost, charged to the session's workspace. */
  usage?: Usage & { workspaceId: string };
  /** Messages for other conversations a plug asked for (an owner told of a pairing request). */
  notify?: Array<{ address: Address; text: string }>;
  sessionId?: number;
  history: TurnRecord['history'];
  audit: AuditInput[];
}

/**
 * One turn of conversation as a pure workflow over injected dependencies: inbound plugs, session, request plugs,
 * backend (with fallbacks), response and outbound plugs. It writes nothing: the caller commits the result
 * atomically with the event's dedupe mark. Access is decided before the session or history is even touched.
 * `signal` is aborted when the turn is given up (its caller went away): the backend call in flight stops.
 */
export async function talk(deps: TalkDeps, event: ChannelEvent, signal?: AbortSignal): Promise<TalkResult> {
  const assistant = await deps.assistantFor(event);
  const audit: AuditInput[] = [];
  if (event.edited) {
    audit.push({ kind: 'inbound.edit_ignored', actor: `${event.platform}:${event.sender.id}`, subject: event.id });
    return { history: [], audit };
  }

  let ctx: Context = {
    stage: 'inbound',
    event,
    assistant: { name: assistant.name, config: assistant.config },
    text: event.text,
    messages: [],
    assigns: {},
    halted: false,
    private: { audit, notify: [] },
  };
  const stopped = (c: Context): TalkResult => ({
    ...(c.halt?.notice ? { notice: c.halt.notice } : {}),
    ...(c.halt ? { haltedBy: c.halt.plug } : {}),
    ...(c.halt?.retryAfterMs !== undefined ? { retryAfterMs: c.halt.retryAfterMs } : {}),
    ...(c.private.notify.length ? { notify: c.private.notify } : {}),
    history: [],
    audit,
  });

  ctx = await runPipeline(assistant.pipelines.inbound, ctx);
  if (ctx.halted) return stopped(ctx);
  const actor = `${event.platform}:${event.sender.id}`;
  // The access plug refuses bots; a pipeline configured without it must not answer them either.
  if (event.sender.isBot) {
    audit.push({ kind: 'inbound.bot_ignored', actor, subject: event.id });
    return stopped(ctx);
  }
  // Only now, with the sender admitted, may the notice go out: a stranger's flood is dropped silently.
  if (event.tooLongChars !== undefined) {
    audit.push({ kind: 'inbound.too_long', actor, subject: event.id, data: { chars: event.tooLongChars } });
    return { ...stopped(ctx), notice: tooLongNotice(event.tooLongChars) };
  }

  const { session } = await deps.store.ensureSession(event, deps.workspaceFor?.(event));
  // `/fallback` answers an earlier question, by the fallbacks, primary skipped: on a stateless surface the question
  // its request carries (nothing is kept between requests; only where the assistant asks, `fallback: ask`),
  // elsewhere the message waiting in the session.
  // From the context the plugs left (the redact plug masks a stateless surface's earlier messages too).
  let context = ctx.event.context;
  let consented: string | undefined;
  if (isFallbackCommand(ctx.text)) {
    if (!context) consented = await deps.store.takePendingFallback?.(session.id, deps.now());
    else if (assistant.config.fallback === 'ask') {
      const asked = askedQuestion(context);
      if (asked >= 0) [consented, context] = [context[asked]!.content, context.slice(0, asked)];
    }
    if (consented === undefined) return { ...stopped(ctx), notice: NOTHING_FOR_FALLBACK, haltedBy: 'commands' };
    ctx = { ...ctx, text: consented };
  }
  const history = context ?? (await deps.store.history(session.id, deps.historyLimit ?? 50)).map((h) => ({ role: h.role, content: h.text }));
  const attached = attachmentNote(ctx.event.attachments);
  const messages: BackendMessage[] = [
    { role: 'system', content: assistant.config.systemPrompt },
    ...history,
    ...(attached ? [{ role: 'user' as const, content: attached }] : []),
    { role: 'user', content: ctx.text },
  ];
  ctx = await runPipeline(assistant.pipelines.request, {
    ...ctx,
    stage: 'request',
    session: { id: session.id, workspaceId: session.workspaceId, scope: session.scope },
    messages,
  });
  if (ctx.halted) return stopped(ctx);

  const workdir = deps.dataDir ? sessionWorkdir(deps.dataDir, session.workspaceId, session.id) : undefined;
  const { onToolRequest } = deps;
  const requestCtx = ctx;
  const drafts = deps.drafts
    ? draftStream({ ...deps.drafts, now: deps.now, shape: (text, format) => shapeDraft(assistant.pipelines, requestCtx, text, format) })
    : undefined;
  // Consent skips the primary; what follows is a fallback still (its own model, the footer), asked no more.
  const chain = consented !== undefined
    ? { backends: assistant.backends, from: 1, config: { ...assistant.config, fallback: 'auto' as const } }
    : { backends: assistant.backends, config: assistant.config };
  // The drafts end before the final reply is queued, so it lands behind them and replaces what they showed.
  const outcome = await callChain(
    { ...chain, messages: ctx.messages, eventId: event.id, audit, ...(workdir ? { workdir, dataDir: deps.dataDir } : {}), ...(signal ? { signal } : {}) },
    {
      now: deps.now,
      onDelta: (text: string, format: 'plain' | 'markdown') => {
        deps.onDelta?.(text, format);
        drafts?.onDelta(text, format);
      },
      onRestart: () => {
        deps.onRestart?.();
        drafts?.onRestart();
      },
      ...(onToolRequest ? { onToolRequest: (t: GovernedToolRequest) => onToolRequest(t, event) } : {}),
      ...(deps.onAttemptFailed ? { onAttemptFailed: deps.onAttemptFailed } : {}),
    },
  ).finally(() => drafts?.close());
  // What the backends spent is charged to the workspace however the turn ends: a reply a plug halts, a failed or
  // refused attempt cost the provider's tokens all the same, and a budget must count them.
  const usage = { ...outcome.usage, workspaceId: session.workspaceId };
  const spentAndStopped = (c: Context): TalkResult => ({ ...stopped(c), usage });
  if (outcome.kind === 'ask') {
    // The message waits (10 minutes) in its session for the user's `/fallback`; a stateless request sends it again.
    if (!ctx.event.context) await deps.store.setPendingFallback?.(session.id, ctx.text, deps.now() + FALLBACK_CONSENT_MS);
    const next = outcome.next.model ?? outcome.next.name;
    return { ...spentAndStopped(ctx), notice: fallbackQuestion(next), haltedBy: 'fallback' };
  }
  if (outcome.kind === 'denied') {
    return { ...spentAndStopped(ctx), notice: `The assistant stopped: it asked to use a tool (${outcome.tool.slice(0, 60)}) that is not allowed here.` };
  }
  if (outcome.kind === 'failed') return { ...spentAndStopped(ctx), notice: UNAVAILABLE_NOTICE };
  // A question answered since the one waiting for `/fallback` leaves that one behind: answered now, it would land in
  // history after the answer that followed it (the API's rule: consent only right after the question).
  if (assistant.config.fallback === 'ask' && !ctx.event.context && consented === undefined) await deps.store.takePendingFallback?.(session.id, deps.now());
  const answer = { text: outcome.text, format: outcome.format };
  const footer = outcome.fallback ? fallbackFooter(assistant.config, outcome.backend, outcome.model) : '';
  if (footer) deps.onDelta?.(`\n\n${footer}`, 'plain');

  ctx = await runPipeline(assistant.pipelines.response, { ...ctx, stage: 'response', reply: answer });
  if (ctx.halted) return spentAndStopped(ctx);
  ctx = await runPipeline(assistant.pipelines.outbound, { ...ctx, stage: 'outbound' });
  if (ctx.halted || !ctx.reply) return spentAndStopped(ctx);

  const reply = ctx.reply.text.length > 0 ? ctx.reply : undefined;
  // Nothing to show: a chat's sender is told so, not left with "typing…" that stops. An API caller gets its empty
  // completion, as from OpenAI.
  const blank = !/\S/.test(ctx.reply.text) && event.context === undefined;
  return {
    // The footer is config text, added after the plugs and kept out of history so the model never imitates it.
    ...(blank ? { notice: EMPTY_REPLY_NOTICE } : reply ? { reply: { ...reply, text: withFooter(reply, footer) } } : {}),
    sessionId: session.id,
    usage,
    history: [
      { role: 'user', text: ctx.text },
      ...(reply && !blank ? [{ role: 'assistant' as const, text: reply.text, format: reply.format }] : []),
    ],
    audit,
  };
}

/**
 * What the assistant is told of a message's attachments, in a message of its own before it (so the message itself,
 * which echo repeats, stays as written): kind, name, type and size. Their content is not fetched.
 */
function attachmentNote(attachments: ChannelEvent['attachments']): string | undefined {
  if (attachments.length === 0) return undefined;
  const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${Math.round(n / 1024)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`);
  const items = attachments.map((a) => [a.kind, a.name && `"${a.name}"`, a.mimeType, a.size !== undefined && size(a.size)].filter(Boolean).join(', '));
  return `[The next message came with ${attachments.length === 1 ? 'an attachment' : `${attachments.length} attachments`}, whose content you cannot see: ${items.join('; ')}]`;
}

/** A draft as users may see it: through the response and outbound plugs, none of whose audit entries are kept. */
async function shapeDraft(pipelines: Pipelines, ctx: Context, text: string, format: 'plain' | 'markdown'): Promise<string | undefined> {
  let draft: Context = { ...ctx, stage: 'response', reply: { text, format }, draft: true, private: { audit: [], notify: [] } };
  draft = await runPipeline(pipelines.response, draft);
  if (!draft.halted) draft = await runPipeline(pipelines.outbound, { ...draft, stage: 'outbound' });
  return draft.halted ? undefined : draft.reply?.text;
}

/** The fallback's footer as a paragraph of its own under the reply, never inside a code block the reply left open. */
function withFooter(reply: { text: string; format: 'plain' | 'markdown' }, footer: string): string {
  if (!footer) return reply.text;
  return reply.format === 'markdown' ? withParagraph(reply.text, footer) : `${reply.text}\n\n${footer}`;
}
