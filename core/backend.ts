/** The backend bridge: every model provider streams text deltas behind this one interface. */
export interface BackendMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface BackendRequest {
  messages: BackendMessage[];
  model?: string;
  signal: AbortSignal;
  /**
   * The session's own working directory, `<data-dir>/workspaces/<workspace>/sessions/<id>/`, where agentic CLI
   * backends run. Set by `talk` from the session alone: nothing a model or a message says reaches it.
   */
  workdir?: string;
  /** The data directory `workdir` lies in: a sandboxed agent sees none of it but `workdir`. */
  dataDir?: string;
}

/** A tool or command an agentic backend wants to run: surfaced for governance to allow or deny. */
export interface ToolRequest {
  id: string;
  tool: string;
  /** The tool's arguments. May hold secrets: never audited or logged. */
  input: unknown;
  /**
   * The tool started (or ran) before the gateway heard of it: the backend reports it after the fact (Codex, a
   * Claude Code that skipped its hook). A denial then stops the run, and no approval can be asked for.
   */
  started?: boolean;
}

/** A tool request as governance sees it: which backend asked, and the session directory its agent runs in. */
export type GovernedToolRequest = ToolRequest & { backend: string; workdir?: string };

export interface ToolDecision {
  allow: boolean;
  reason?: string;
}

export type BackendChunk =
  | { type: 'delta'; text: string }
  /** `costUsd` when the backend itself reports what the call cost (Claude Code does). */
  | { type: 'usage'; inputTokens: number; outputTokens: number; costUsd?: number }
  /**
   * The consumer answers a tool request by passing a `ToolDecision` to the iterator's next `next()` call. A consumer
   * that iterates with `for await` passes `undefined`, which every backend treats as a denial: fail closed.
   */
  | ({ type: 'tool_request' } & ToolRequest);

/** USD per million tokens, from the config's `backends.<name>.pricing`. */
export interface Pricing {
  inputPerMTok: number;
  outputPerMTok: number;
}

/** A doctor verdict: a line, or a line about something that works with a risk the user should know of. */
export type BackendCheck = string | { detail: string; warn: true };

export interface Backend {
  readonly name: string;
  /** What the text is: echo repeats user text (plain); language models write markdown. */
  readonly format: 'plain' | 'markdown';
  readonly model?: string;
  readonly pricing?: Pricing;
  stream(request: BackendRequest): AsyncIterable<BackendChunk>;
  /** A cheap reachability check for `doctor` (list models, find the executable); resolves to a one-line verdict. */
  check?(signal: AbortSignal): Promise<BackendCheck>;
}

export type UnavailableKind = 'timeout' | 'stalled' | 'rate_limited' | 'server_error' | 'network' | 'malformed' | 'stream_error' | 'exit' | 'spawn';

/** A backend failure worth trying the next backend for (timeout, 5xx, 429, network, a broken stream). */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
  readonly kind: UnavailableKind;
  readonly status?: number;
  /** From the provider's `retry-after(-ms)` header, when it sent one. */
  readonly retryAfterMs?: number;
  constructor(message: string, options: { kind?: UnavailableKind; status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = options.kind ?? 'server_error';
    if (options.status !== undefined) this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/** The provider refused the request itself (4xx other than 408/429): another backend would not do better. */
export class BackendRequestError extends Error {
  override readonly name = 'BackendRequestError';
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** An agentic backend asked for a tool that was denied, and the backend cannot continue without it. */
export class ToolDeniedError extends Error {
  override readonly name = 'ToolDeniedError';
  constructor(readonly tool: string) {
    super(`tool "${tool}" was denied`);
  }
}
