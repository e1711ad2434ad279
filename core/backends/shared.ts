import { BackendRequestError, BackendUnavailableError, type BackendMessage } from '../backend.js';

/** Tokens estimated as characters / 4 (plus a little per message): close enough for a budget, no tokenizer needed. */
export const estimateTokens = (m: BackendMessage): number => Math.ceil(m.content.length / 4) + 4;

/**
 * Fits a conversation into a context-window budget: the system prompt(s) and the latest user message always stay;
 * older turns are dropped oldest first until the rest fits. A history that would then open with an assistant turn
 * loses that turn too, so the conversation still starts with the user (Anthropic requires it).
 */
export function fitToBudget(messages: BackendMessage[], budgetTokens: number | undefined): BackendMessage[] {
  if (budgetTokens === undefined) return messages;
  const system = messages.filter((m) => m.role === 'system');
  const rest = messages.filter((m) => m.role !== 'system');
  let lastUser = rest.length - 1;
  while (lastUser > 0 && rest[lastUser]!.role !== 'user') lastUser--;
  const tail = rest.slice(Math.max(lastUser, 0));
  let left = budgetTokens - [...system, ...tail].reduce((n, m) => n + estimateTokens(m), 0);
  let start = Math.max(lastUser, 0);
  while (start > 0 && left - estimateTokens(rest[start - 1]!) >= 0) {
    left -= estimateTokens(rest[start - 1]!);
    start--;
  }
  while (start < lastUser && rest[start]!.role !== 'user') start++;
  return [...system, ...rest.slice(start)];
}

/**
 * One call's deadlines: an overall timeout and an idle timeout (no chunk for `idleMs`, first byte included). Either
 * aborts `signal` with a BackendUnavailableError as its reason; so does the caller's signal, with the caller's reason.
 */
export class CallGuard {
  private readonly controller = new AbortController();
  private overall: NodeJS.Timeout | undefined;
  private idle: NodeJS.Timeout | undefined;
  /** While paused, what is left of the overall time; else when it ends. */
  private left: number | undefined;
  private endsAt: number;
  private readonly onCallerAbort = () => this.controller.abort(this.caller.reason);

  constructor(
    private readonly caller: AbortSignal,
    readonly label: string,
    private readonly timeoutMs: number,
    private readonly idleMs?: number,
  ) {
    this.endsAt = Date.now() + timeoutMs;
    this.startOverall(timeoutMs);
    if (caller.aborted) this.onCallerAbort();
    else caller.addEventListener('abort', this.onCallerAbort, { once: true });
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private startOverall(ms: number): void {
    this.overall = setTimeout(
      () => this.controller.abort(new BackendUnavailableError(`${this.label}: no complete reply within ${this.timeoutMs} ms`, { kind: 'timeout' })),
      ms,
    );
  }

  /** Data arrived: the idle clock starts over, and a paused overall clock goes on from where it stopped. */
  touch(): void {
    if (this.left !== undefined) {
      this.endsAt = Date.now() + this.left;
      this.startOverall(this.left);
      this.left = undefined;
    }
    if (this.idleMs === undefined) return;
    clearTimeout(this.idle);
    const ms = this.idleMs;
    this.idle = setTimeout(() => this.controller.abort(new BackendUnavailableError(`${this.label}: stream stalled for ${ms} ms`, { kind: 'stalled' })), ms);
  }

  /**
   * The consumer is deciding something (a tool request, which may wait for an owner): until `touch()` again,
   * silence is not a stall and the wait does not count against the overall time.
   */
  pause(): void {
    clearTimeout(this.idle);
    if (this.left !== undefined) return;
    clearTimeout(this.overall);
    this.left = Math.max(0, this.endsAt - Date.now());
  }

  abort(reason: unknown): void {
    this.controller.abort(reason);
  }

  dispose(): void {
    clearTimeout(this.overall);
    clearTimeout(this.idle);
    this.caller.removeEventListener('abort', this.onCallerAbort);
  }

  /** Iterates `source`, touching the idle clock per item and failing as soon as the guard aborts. */
  async *iterate<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    const it = source[Symbol.asyncIterator]();
    const signal = this.signal;
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    let finished = false;
    try {
      for (;;) {
        const step = await Promise.race([it.next(), aborted]);
        if (step.done) break;
        this.touch();
        yield step.value;
      }
      finished = true;
      // An SDK stream ends quietly when its request is aborted: that is a failure here, never a complete reply.
      if (signal.aborted) throw signal.reason;
    } finally {
      if (!finished) void Promise.resolve(it.return?.()).catch(() => undefined);
    }
  }
}

/** Milliseconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date). */
export function retryAfterMs(headers: unknown): number | undefined {
  const get = (name: string): string | null | undefined =>
    headers && typeof (headers as Headers).get === 'function' ? (headers as Headers).get(name) : undefined;
  const ms = Number(get('retry-after-ms'));
  if (get('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const value = get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * Maps whatever an SDK call threw onto the bridge's errors: the guard's own reason (timeout, stall) wins; 408, 409,
 * 429 and 5xx, connection failures, mid-stream errors and malformed chunks are worth a fallback; any other 4xx is not.
 * Messages name the status and kind only: provider error bodies can echo the prompt.
 */
/** An SDK's own error classes (the OpenAI client's errors are all named "Error", so names cannot tell them apart). */
export interface SdkErrors {
  APIError: abstract new (...args: never[]) => Error;
  APIConnectionError: abstract new (...args: never[]) => Error;
  APIConnectionTimeoutError: abstract new (...args: never[]) => Error;
}

export function mapSdkError(error: unknown, guard: CallGuard, sdk: SdkErrors): Error {
  const mapped = classify(error, guard, sdk);
  // The provider's own words, for the worker's debug log only (they can quote the prompt): never in the message,
  // which reaches the audit and the caller.
  const said = (error as { message?: unknown } | null)?.message;
  if (mapped !== error && typeof said === 'string' && said) Object.defineProperty(mapped, 'providerSaid', { value: said.slice(0, 500), enumerable: false });
  return mapped;
}

function classify(error: unknown, guard: CallGuard, sdk: SdkErrors): Error {
  if (guard.signal.aborted) {
    const reason: unknown = guard.signal.reason;
    return reason instanceof Error ? reason : new BackendUnavailableError(`${guard.label}: aborted`, { kind: 'timeout' });
  }
  if (error instanceof BackendUnavailableError || error instanceof BackendRequestError) return error;
  const e = error as { name?: string; status?: unknown; headers?: unknown; cause?: unknown };
  if (e?.cause instanceof BackendRequestError) return e.cause;
  if (error instanceof SyntaxError) return new BackendUnavailableError(`${guard.label}: malformed stream chunk`, { kind: 'malformed' });
  if (typeof e?.status === 'number') {
    const status = e.status;
    const after = retryAfterMs(e.headers);
    const opts = { status, ...(after !== undefined ? { retryAfterMs: after } : {}) };
    if (status === 429) return new BackendUnavailableError(`${guard.label}: rate limited (429)`, { kind: 'rate_limited', ...opts });
    if (status === 408 || status === 409 || status >= 500) return new BackendUnavailableError(`${guard.label}: HTTP ${status}`, { kind: 'server_error', ...opts });
    return new BackendRequestError(`${guard.label}: the provider refused the request (HTTP ${status})`, status);
  }
  if (error instanceof sdk.APIConnectionTimeoutError) return new BackendUnavailableError(`${guard.label}: connection timed out`, { kind: 'timeout' });
  if (error instanceof sdk.APIConnectionError) return new BackendUnavailableError(`${guard.label}: network error`, { kind: 'network', cause: error });
  if (error instanceof sdk.APIError) return new BackendUnavailableError(`${guard.label}: error in the stream`, { kind: 'stream_error' });
  return new BackendUnavailableError(`${guard.label}: network error`, { kind: 'network', cause: error });
}

/**
 * A fetch that only ever talks to the configured base URL and never follows a redirect: whatever an SDK, a model
 * or a server's Location header says, a request with this backend's key goes nowhere else.
 */
export function pinnedFetch(baseUrl: string): typeof fetch {
  const base = new URL(baseUrl);
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  return (input, init) => {
    const target = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    if (target.origin !== base.origin || !(target.pathname + '/').startsWith(prefix)) {
      return Promise.reject(new BackendRequestError(`refused a request outside the configured base URL ${base.origin}${base.pathname}`));
    }
    return fetch(input, { ...init, redirect: 'error' });
  };
}

/**
 * A provider's SDK and client, loaded on first use instead of at start: every command builds the configured backends,
 * and loading an SDK's several hundred modules at once ran out of file descriptors under a low limit (`ulimit -n
 * 128`) before the command could do anything. Loaded once, shared by every call. A load that fails is an unavailable
 * backend (the chain goes on to a fallback), and stays failed: Node keeps a failed import for the process's life.
 */
export function lazySdk<S, C>(label: string, load: () => Promise<S>, make: (sdk: S) => C): () => Promise<{ sdk: S; client: C }> {
  let loaded: Promise<{ sdk: S; client: C }> | undefined;
  return () =>
    (loaded ??= load().then(
      (sdk) => ({ sdk, client: make(sdk) }),
      (error: unknown) => {
        throw new BackendUnavailableError(`${label}: its client library could not be loaded (${(error as Error).message}); restart the worker`, { cause: error });
      },
    ));
}
