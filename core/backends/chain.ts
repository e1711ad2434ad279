import type { AuditInput } from '../audit.js';
import {
  BackendUnavailableError,
  ToolDeniedError,
  type Backend,
  type BackendMessage,
  type BackendRequest,
  type GovernedToolRequest,
  type ToolDecision,
  type ToolRequest,
} from '../backend.js';
import type { AssistantConfig } from '../config.js';

export const DEFAULT_FALLBACK_LABEL = '— answered by {model} (fallback)';
/** A safety net per attempt; each backend's own timeouts (config) normally end a call long before. */
const ATTEMPT_LIMIT_MS = 60 * 60_000;

export interface ChainDeps {
  now(): number;
  /** Each streamed piece, with what kind of text the backend writes. */
  onDelta?: (text: string, format: Backend['format']) => void;
  /** The pieces streamed so far are void: a fallback starts the reply over. */
  onRestart?: () => void;
  /** Decides a backend's tool request; without it every request is denied. */
  onToolRequest?: (request: GovernedToolRequest) => ToolDecision | Promise<ToolDecision>;
  /**
   * Told why an attempt failed, in the provider's words, for the operator's log: the audit keeps only the kind of
   * failure (a provider's error text can quote the prompt).
   */
  onAttemptFailed?: (backend: string, error: unknown) => void;
  /** The safety net per attempt (default an hour), not counting the time tool requests wait for their decision. */
  attemptLimitMs?: number;
}

export interface ChainInput {
  backends: Backend[];
  /** Where to start: 1 when the user consented (`/fallback`) to skip the unavailable primary. */
  from?: number;
  config: AssistantConfig;
  messages: BackendMessage[];
  workdir?: string;
  dataDir?: string;
  eventId: string;
  audit: AuditInput[];
  /** Aborted when the turn is given up (its caller went away): the call in flight stops, and no fallback follows. */
  signal?: AbortSignal;
}

/** What one answered turn cost, for budgets. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** `usage` is what every attempt spent, failed ones included: a budget counts what the providers charge. */
export type ChainOutcome = { usage: Usage } & (
  | { kind: 'ok'; text: string; format: 'plain' | 'markdown'; backend: Backend; model: string | undefined; fallback: boolean }
  /** `fallback: ask` and the primary is unavailable: the user is asked before `next` may answer. */
  | { kind: 'ask'; next: Backend }
  | { kind: 'denied'; tool: string }
  | { kind: 'failed' }
);

const round6 = (n: number): number => Math.round(n * 1e6) / 1e6;

/**
 * Calls the assistant's backends in order. Only BackendUnavailableError (timeout, stall, 5xx, 429, network, a broken
 * stream) moves on to the next backend; any other failure ends the turn. Every attempt is audited with backend,
 * model, outcome, latency, tokens and cost, and every tool request with its tool name and decision — never the
 * prompt, the reply, a tool's input or a provider's error text.
 */
export async function callChain(input: ChainInput, deps: ChainDeps): Promise<ChainOutcome> {
  const { backends, config, messages, eventId, audit, from = 0 } = input;
  let streamed = false;
  const spent: Usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  for (const [i, backend] of backends.entries()) {
    if (i < from) continue;
    if (input.signal?.aborted) return { kind: 'failed', usage: spent };
    if (i > from && config.fallback === 'ask') {
      audit.push({ kind: 'backend.fallback_ask', actor: `backend:${backends[0]!.name}`, subject: eventId, data: { next: backend.name } });
      return { kind: 'ask', next: backend, usage: spent };
    }
    if (streamed) deps.onRestart?.();
    streamed = false;
    const model = (i === 0 ? config.model : undefined) ?? backend.model;
    const started = deps.now();
    const entry = (data: Record<string, unknown>): AuditInput => ({
      kind: 'backend.call',
      actor: `backend:${backend.name}`,
      subject: eventId,
      data: { backend: backend.name, model: model ?? null, attempt: i + 1, fallback: i > 0, latencyMs: deps.now() - started, ...data },
    });
    const decide = async (t: ToolRequest): Promise<ToolDecision> => {
      let decision: ToolDecision = { allow: false, reason: 'no tool policy: denied by default' };
      if (deps.onToolRequest) {
        try {
          decision = await deps.onToolRequest({ ...t, backend: backend.name, ...(input.workdir ? { workdir: input.workdir } : {}) });
        } catch {
          decision = { allow: false, reason: 'the tool policy failed' };
        }
      }
      const allow = decision.allow === true;
      audit.push({
        kind: 'backend.tool_request',
        actor: `backend:${backend.name}`,
        subject: eventId,
        // `started`: the backend ran (or began) the tool before asking, a fact worth seeing in the audit.
        data: { backend: backend.name, tool: t.tool.slice(0, 100), id: t.id.slice(0, 100), allowed: allow, ...(t.started ? { started: true } : {}) },
      });
      return { allow, ...(decision.reason ? { reason: decision.reason.slice(0, 200) } : {}) };
    };

    let text = '';
    let usage = { inputTokens: 0, outputTokens: 0, costUsd: undefined as number | undefined };
    /** What this attempt reported spending so far, added to `spent`; its cost from the backend's pricing when not told. */
    const charge = (): { inputTokens: number; outputTokens: number; costUsd?: number } => {
      const price = backend.pricing;
      const cost = usage.costUsd ?? (price ? (usage.inputTokens * price.inputPerMTok + usage.outputTokens * price.outputPerMTok) / 1e6 : undefined);
      spent.inputTokens += usage.inputTokens;
      spent.outputTokens += usage.outputTokens;
      spent.costUsd += cost ?? 0;
      return { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, ...(cost !== undefined ? { costUsd: round6(cost) } : {}) };
    };
    // Our own controller and timer, not AbortSignal.any: on Node 20 a timeout signal held only by `any` can be
    // collected, and the attempt's limit then never fires.
    const attempt = new AbortController();
    // Paused while a tool request waits for its decision: an owner may take up to an hour (`approvalTimeoutMs`).
    let left = deps.attemptLimitMs ?? ATTEMPT_LIMIT_MS;
    let armedAt = 0;
    let limit: NodeJS.Timeout | undefined;
    const arm = () => {
      armedAt = Date.now();
      limit = setTimeout(() => attempt.abort(new BackendUnavailableError(`backend ${backend.name}: no reply within the attempt limit`, { kind: 'timeout' })), left);
    };
    const disarm = () => {
      clearTimeout(limit);
      left = Math.max(0, left - (Date.now() - armedAt));
    };
    arm();
    const cancel = () => attempt.abort(input.signal?.reason);
    input.signal?.addEventListener('abort', cancel, { once: true });
    try {
      const request: BackendRequest = {
        messages,
        signal: attempt.signal,
        ...(i === 0 && config.model ? { model: config.model } : {}),
        ...(input.workdir ? { workdir: input.workdir } : {}),
        ...(input.dataDir ? { dataDir: input.dataDir } : {}),
      };
      const it = backend.stream(request)[Symbol.asyncIterator]();
      let answer: ToolDecision | undefined;
      for (;;) {
        const step = await it.next(answer);
        answer = undefined;
        if (step.done) break;
        const chunk = step.value;
        if (chunk.type === 'delta') {
          text += chunk.text;
          streamed = true;
          deps.onDelta?.(chunk.text, backend.format);
        } else if (chunk.type === 'usage') {
          usage = { inputTokens: chunk.inputTokens, outputTokens: chunk.outputTokens, costUsd: chunk.costUsd };
        } else {
          disarm();
          answer = await decide(chunk);
          arm();
        }
      }
      audit.push(entry({ ok: true, ...charge() }));
      // A backend may answer with a lone UTF-16 surrogate (a model cut off mid-character, a bad JSON escape): no
      // platform takes one, and every boundary refuses it. Shown as U+FFFD, the rest of the reply still goes out.
      return { kind: 'ok', text: text.toWellFormed(), format: backend.format, backend, model, fallback: i > 0, usage: spent };
    } catch (error) {
      const e = error as { name?: unknown; status?: unknown };
      const cancelled = input.signal?.aborted === true;
      const unavailable = error instanceof BackendUnavailableError && !cancelled ? error : undefined;
      const charged = charge();
      audit.push(
        entry({
          ok: false,
          ...(charged.inputTokens || charged.outputTokens || charged.costUsd ? charged : {}),
          error: typeof e?.name === 'string' ? e.name : 'Error',
          ...(unavailable ? { errorKind: unavailable.kind } : {}),
          ...(typeof e?.status === 'number' ? { status: e.status } : {}),
          ...(unavailable?.retryAfterMs !== undefined ? { retryAfterMs: unavailable.retryAfterMs } : {}),
          ...(error instanceof ToolDeniedError ? { tool: error.tool.slice(0, 100) } : {}),
          ...(cancelled ? { cancelled: true } : {}),
        }),
      );
      if (!cancelled) deps.onAttemptFailed?.(backend.name, error);
      if (error instanceof ToolDeniedError) return { kind: 'denied', tool: error.tool, usage: spent };
      if (!unavailable) return { kind: 'failed', usage: spent };
    } finally {
      clearTimeout(limit);
      input.signal?.removeEventListener('abort', cancel);
    }
  }
  return { kind: 'failed', usage: spent };
}

/** The footer under a reply from a fallback: `fallbackLabel` with `{model}` and `{backend}` filled in; "" for none. */
export function fallbackFooter(config: AssistantConfig, backend: Backend, model: string | undefined): string {
  const template = config.fallbackLabel ?? DEFAULT_FALLBACK_LABEL;
  if (!template) return '';
  return template.replaceAll('{model}', model ?? backend.name).replaceAll('{backend}', backend.name);
}
