import type { AuditInput } from './audit.js';
import type { Backend, BackendMessage } from './backend.js';
import type { AssistantConfig } from './config.js';
import type { ChannelEvent } from './event.js';
import { runPipeline, type Context, type Pipelines } from './plug.js';
import type { Store } from './store.js';

/** An assistant as a turn needs it: its config rendered into pipelines and backends. */
export interface RuntimeAssistant {
  name: string;
  config: AssistantConfig;
  pipelines: Pipelines;
  /** Primary first, then fallbacks. */
  backends: Backend[];
}

export interface TalkDeps {
  store: Pick<Store, 'ensureSession' | 'history'>;
  assistantFor(event: ChannelEvent): RuntimeAssistant;
  now(): number;
  /** History entries sent to the backend with each turn. */
  historyLimit?: number;
  /** Told of each streamed piece, e.g. to show a reply growing; a turn never waits on it. */
  onDelta?: (text: string) => void;
}

export interface TalkResult {
  reply?: { text: string; format: 'plain' | 'markdown' };
  /** The notice for the sender when a plug halted with one. */
  notice?: string;
  sessionId?: number;
  history: Array<{ role: 'user' | 'assistant'; text: string }>;
  audit: AuditInput[];
}

/**
 * One turn of conversation as a pure workflow over injected dependencies: inbound plugs, session, request plugs,
 * backend (with fallbacks), response and outbound plugs. It writes nothing: the caller commits the result
 * atomically with the event's dedupe mark. Access is decided before the session or history is even touched.
 */
export async function talk(deps: TalkDeps, event: ChannelEvent): Promise<TalkResult> {
  const assistant = deps.assistantFor(event);
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
    private: { audit },
  };
  const stopped = (c: Context): TalkResult => ({ ...(c.halt?.notice ? { notice: c.halt.notice } : {}), history: [], audit });

  ctx = await runPipeline(assistant.pipelines.inbound, ctx);
  if (ctx.halted) return stopped(ctx);

  const { session } = await deps.store.ensureSession(event);
  const history = await deps.store.history(session.id, deps.historyLimit ?? 50);
  const messages: BackendMessage[] = [
    { role: 'system', content: assistant.config.systemPrompt },
    ...history.map((h) => ({ role: h.role, content: h.text })),
    { role: 'user', content: ctx.text },
  ];
  ctx = await runPipeline(assistant.pipelines.request, {
    ...ctx,
    stage: 'request',
    session: { id: session.id, workspaceId: session.workspaceId, scope: session.scope },
    messages,
  });
  if (ctx.halted) return stopped(ctx);

  const answer = await callBackends(assistant, ctx.messages, audit, event.id, deps);
  if (!answer) return { ...stopped(ctx), notice: 'Sorry, the assistant is unavailable right now. Please try again later.' };

  ctx = await runPipeline(assistant.pipelines.response, { ...ctx, stage: 'response', reply: answer });
  if (ctx.halted) return stopped(ctx);
  ctx = await runPipeline(assistant.pipelines.outbound, { ...ctx, stage: 'outbound' });
  if (ctx.halted || !ctx.reply) return stopped(ctx);

  const reply = ctx.reply.text.length > 0 ? ctx.reply : undefined;
  return {
    ...(reply ? { reply } : {}),
    sessionId: session.id,
    history: [
      { role: 'user', text: ctx.text },
      ...(reply ? [{ role: 'assistant' as const, text: reply.text }] : []),
    ],
    audit,
  };
}

/** Tries each backend in order; every attempt is audited with latency and usage, never with the prompt. */
async function callBackends(
  assistant: RuntimeAssistant,
  messages: BackendMessage[],
  audit: AuditInput[],
  eventId: string,
  deps: TalkDeps,
): Promise<{ text: string; format: 'plain' | 'markdown' } | undefined> {
  for (const backend of assistant.backends) {
    const started = deps.now();
    let text = '';
    let usage = { inputTokens: 0, outputTokens: 0 };
    try {
      const request = { messages, signal: AbortSignal.timeout(300_000), ...(assistant.config.model ? { model: assistant.config.model } : {}) };
      for await (const chunk of backend.stream(request)) {
        if (chunk.type === 'delta') {
          text += chunk.text;
          deps.onDelta?.(chunk.text);
        } else usage = { inputTokens: chunk.inputTokens, outputTokens: chunk.outputTokens };
      }
      audit.push({
        kind: 'backend.call',
        actor: `backend:${backend.name}`,
        subject: eventId,
        data: { ok: true, model: assistant.config.model ?? backend.model ?? null, latencyMs: deps.now() - started, ...usage },
      });
      return { text, format: backend.format };
    } catch (error) {
      audit.push({
        kind: 'backend.call',
        actor: `backend:${backend.name}`,
        subject: eventId,
        data: { ok: false, latencyMs: deps.now() - started, error: error instanceof Error ? error.name : 'Error' },
      });
    }
  }
  return undefined;
}
