import type { ServerResponse } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

/**
 * A fake Anthropic Messages API on loopback (port 0), streaming the way Anthropic does: `event:`/`data:` pairs for
 * message_start (input usage), content_block_start, ping, content_block_delta (text_delta), content_block_stop,
 * message_delta (output usage) and message_stop. Each request takes the next script; with none it streams `Hi there`.
 */
export type AnthropicScript =
  | { kind: 'stream'; deltas: string[]; inputTokens?: number; outputTokens?: number }
  | { kind: 'status'; status: number; headers?: Record<string, string>; errorType?: string }
  /** Some deltas, then `event: error` (overloaded), as Anthropic sends mid-stream. */
  | { kind: 'error-mid-stream'; deltas: string[] }
  | { kind: 'malformed'; deltas: string[] }
  | { kind: 'stall'; deltas: string[] };

const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

function start(res: ServerResponse, id: string, deltas: string[], inputTokens: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${id}` });
  res.write(
    event('message_start', {
      type: 'message_start',
      message: { id, type: 'message', role: 'assistant', model: 'claude-fake', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } },
    }),
  );
  res.write(event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
  res.write(event('ping', { type: 'ping' }));
  for (const text of deltas) res.write(event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }));
}

export async function startAnthropicFake() {
  let n = 0;
  const fake = await startScriptedServer<AnthropicScript>((req, res, next) => {
    if (req.method === 'GET' && req.path.startsWith('/v1/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: [{ id: 'claude-fake', type: 'model', display_name: 'Fake', created_at: '2025-01-01T00:00:00Z' }], has_more: false, first_id: 'claude-fake', last_id: 'claude-fake' }));
      return;
    }
    const script = next() ?? { kind: 'stream', deltas: ['Hi', ' there'] };
    const id = `msg_${++n}`;
    switch (script.kind) {
      case 'status':
        res.writeHead(script.status, { 'content-type': 'application/json', ...script.headers });
        res.end(JSON.stringify({ type: 'error', error: { type: script.errorType ?? 'api_error', message: `status ${script.status}` } }));
        return;
      case 'stream':
        start(res, id, script.deltas, script.inputTokens ?? 21);
        res.write(event('content_block_stop', { type: 'content_block_stop', index: 0 }));
        res.write(event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: script.outputTokens ?? 7 } }));
        res.end(event('message_stop', { type: 'message_stop' }));
        return;
      case 'error-mid-stream':
        start(res, id, script.deltas, 21);
        res.end(event('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
        return;
      case 'malformed':
        start(res, id, script.deltas, 21);
        res.end('event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": \n\n');
        return;
      case 'stall':
        start(res, id, script.deltas, 21);
        return;
    }
  });
  return {
    url: `http://127.0.0.1:${fake.port}`,
    requests: fake.requests,
    messageRequests: () => fake.requests.filter((r) => r.path.startsWith('/v1/messages')),
    script: fake.script,
    close: fake.close,
  };
}
