/**
 * A small JSON-RPC 2.0 client for `signal-cli daemon` (signal-cli-jsonrpc(5)). No maintained npm client speaks it
 * over TCP, and the protocol is tiny: requests and responses matched by id, plus `receive` notifications.
 * This file holds what both transports share; tcp.ts and http.ts are the transports:
 * - `tcp://host:port`: newline-delimited JSON over one long-lived socket; notifications arrive on the same socket.
 * - `http://host:port` (`daemon --http`): POST /api/v1/rpc per request, GET /api/v1/events as a Server-Sent Events
 *   stream whose `data:` lines are the notification params (`{"envelope":…,"account":…}`).
 */

import { ENDPOINT_FORM, parseEndpoint, type Endpoint } from '../../core/rpc-endpoint.js';

export type { Endpoint };

/** One notification as the daemon wrote it: `method` and raw `params` (validated later, by parse.ts). */
export interface Notification {
  method: string;
  params: unknown;
}

/** The daemon answered with a JSON-RPC error object. */
export class SignalRpcError extends Error {
  override readonly name = 'SignalRpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data: unknown,
  ) {
    super(`signal-cli error ${code}: ${message}`);
  }
  /** signal-cli's rate-limit error (-5): the server's wait, from `data.retryAfterSeconds` or the per-recipient results. */
  get retryAfterSeconds(): number | undefined {
    const found = [...numbersNamed(this.data, 'retryAfterSeconds', 0)];
    return found.length ? Math.max(...found) : undefined;
  }
}

/** No answer, a closed socket or an unreachable daemon: the link is down, retrying later may help. */
export class SignalConnectionError extends Error {
  override readonly name = 'SignalConnectionError';
}

export const RATE_LIMIT_ERROR = -5;
/** A line longer than this is discarded: no legitimate notification (100,000 characters of text) comes near it. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

function* numbersNamed(node: unknown, key: string, depth: number): Generator<number> {
  if (depth > 6 || !node || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (k === key && typeof v === 'number' && Number.isFinite(v) && v >= 0) yield v;
    else yield* numbersNamed(v, key, depth + 1);
  }
}

/** The configured endpoint; the config check refused any other shape, this names it again for a direct caller. */
export function endpointOf(rpc: string): Endpoint {
  const endpoint = parseEndpoint(rpc);
  if (!endpoint) throw new Error(`connectors.signal.rpc: "${rpc}" ${ENDPOINT_FORM}`);
  return endpoint;
}

export interface LinkHandlers {
  onNotification(n: Notification): void;
  /** A line or event that is not JSON-RPC (malformed, oversized, a response to nobody). */
  onMalformed(reason: string): void;
  /** Any bytes from the daemon (SSE keep-alives included): the stream is alive. */
  onActivity(): void;
}

/** One live connection to the daemon. `closed` settles (never rejects) when it ends, with the reason. */
export interface RpcConnection {
  call(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown>;
  readonly closed: Promise<string>;
  close(reason?: string): void;
}

export type Pending = { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout };

/** The settled value of a JSON-RPC response: its result, or a SignalRpcError for its error object. */
export function outcome(m: Record<string, unknown>): { value: unknown } | { error: SignalRpcError } {
  const error = m.error as { code?: unknown; message?: unknown; data?: unknown } | null | undefined;
  if (error && typeof error === 'object') {
    return { error: new SignalRpcError(typeof error.code === 'number' ? error.code : -32603, String(error.message ?? 'unknown error'), error.data) };
  }
  return { value: m.result };
}

/** Routes one decoded JSON-RPC message: a response settles its pending call, a notification goes to the handler. */
export function route(message: unknown, pending: Map<string, Pending>, handlers: LinkHandlers): void {
  if (!message || typeof message !== 'object' || Array.isArray(message)) return handlers.onMalformed('not a JSON object');
  const m = message as Record<string, unknown>;
  if (typeof m.method === 'string' && m.id === undefined) return handlers.onNotification({ method: m.method, params: m.params });
  if (!('result' in m) && !('error' in m)) return handlers.onMalformed('neither a notification nor a response');
  const waiting = m.id !== undefined && m.id !== null ? pending.get(String(m.id)) : undefined;
  // A late answer to a call that already timed out: nothing waits for it any more.
  if (!waiting) return;
  pending.delete(String(m.id));
  clearTimeout(waiting.timer);
  const o = outcome(m);
  if ('error' in o) waiting.reject(o.error);
  else waiting.resolve(o.value);
}
