import { MAX_LINE_BYTES, outcome, SignalConnectionError, type Endpoint, type LinkHandlers, type RpcConnection } from './rpc.js';

/**
 * `http://host:port` (`daemon --http`): POST /api/v1/rpc per request; GET /api/v1/events is a Server-Sent Events
 * stream of receive notifications, `data:` being the notification's params.
 */
export async function connectHttp(endpoint: Endpoint, account: string, handlers: LinkHandlers, timeoutMs: number): Promise<RpcConnection> {
  const abort = new AbortController();
  let endReason = 'closed by the daemon';
  let response: Response;
  const opening = setTimeout(() => abort.abort(new Error(`no event stream within ${timeoutMs} ms`)), timeoutMs);
  try {
    response = await fetch(`${endpoint.url}/api/v1/events?account=${encodeURIComponent(account)}`, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    throw new SignalConnectionError(`cannot reach signal-cli at ${endpoint.url}: ${cause}`);
  } finally {
    clearTimeout(opening);
  }
  if (response.status !== 200 || !response.body) {
    abort.abort();
    throw new SignalConnectionError(`signal-cli events endpoint at ${endpoint.url} answered HTTP ${response.status}`);
  }
  const closed = readEvents(response.body, handlers).then(
    () => endReason,
    (error: Error) => (abort.signal.aborted ? endReason : error.message),
  );
  let nextId = 1;
  return {
    closed,
    close(reason = 'closed by the connector') {
      endReason = reason;
      abort.abort();
    },
    // Requests are not tied to the event stream: a send under way when the stream is recycled still gets its answer,
    // instead of failing after signal-cli may already have delivered it (and being sent twice on retry).
    call: (method, params, callTimeoutMs) => postRpc(endpoint, String(nextId++), method, params, callTimeoutMs),
  };
}

/** One request to `daemon --http` (POST /api/v1/rpc). It never subscribes to receiving, so it is a safe probe. */
export async function postRpc(
  endpoint: Endpoint,
  id: string,
  method: string,
  params: Record<string, unknown>,
  timeoutMs: number,
): Promise<unknown> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${endpoint.url}/api/v1/rpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    throw new SignalConnectionError(timedOut ? `signal-cli did not answer ${method} within ${timeoutMs} ms` : `cannot reach signal-cli at ${endpoint.url}: ${cause}`);
  }
  if (res.status !== 200) throw new SignalConnectionError(`signal-cli answered ${method} with HTTP ${res.status}`);
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new SignalConnectionError(`signal-cli answered ${method} with a body that is not JSON`);
  }
  if (!message || typeof message !== 'object' || (message as { id?: unknown }).id !== id) {
    throw new SignalConnectionError(`signal-cli answered ${method} with something that is not its response`);
  }
  const o = outcome(message as Record<string, unknown>);
  if ('error' in o) throw o.error;
  return o.value;
}

/** Reads an SSE stream (WHATWG rules, as signal-cli writes it: `event:receive`, `data:{…}`, `:` keep-alives). */
async function readEvents(body: ReadableStream<Uint8Array>, handlers: LinkHandlers): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  const dispatch = () => {
    if (data.length) deliverEvent(event || 'receive', data.join('\n'), handlers);
    event = '';
    data = [];
  };
  for await (const chunk of body) {
    handlers.onActivity();
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(buffer[nl] === '\r' ? nl + 2 : nl + 1);
      if (line === '') dispatch();
      else if (line.startsWith(':')) continue;
      else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
      }
    }
    if (Buffer.byteLength(buffer) + data.reduce((n, d) => n + d.length, 0) > MAX_LINE_BYTES) {
      handlers.onMalformed(`an event over ${MAX_LINE_BYTES} bytes`);
      buffer = '';
      data = [];
    }
  }
}

function deliverEvent(event: string, data: string, handlers: LinkHandlers): void {
  let params: unknown;
  try {
    params = JSON.parse(data);
  } catch {
    return handlers.onMalformed('an event whose data is not JSON');
  }
  // Tolerate a daemon (or proxy) that wraps the event as a whole JSON-RPC notification.
  const p = params as Record<string, unknown> | null;
  if (p && typeof p === 'object' && p.jsonrpc === '2.0' && typeof p.method === 'string') {
    return handlers.onNotification({ method: p.method, params: p.params });
  }
  handlers.onNotification({ method: event, params });
}
