import type { ServerResponse } from 'node:http';
import { startScriptedServer } from './scripted-server.js';

/**
 * A fake OpenAI-compatible server on loopback (port 0) that streams chat completions the way OpenAI does:
 * `data: {chunk}\n\n` lines, a final usage chunk with empty choices, then `data: [DONE]`. Each request takes the
 * next script; with none queued it streams `Hello there`.
 */
export type OpenAIScript =
  | { kind: 'stream'; deltas: string[]; usage?: { prompt_tokens: number; completion_tokens: number }; delayMs?: number }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown }
  /** Some deltas, then an error object in the stream (as OpenAI sends when a stream fails server-side). */
  | { kind: 'error-mid-stream'; deltas: string[] }
  /** Some deltas, then a line that is not JSON. */
  | { kind: 'malformed'; deltas: string[] }
  /** Some deltas, then nothing: the connection stays open. */
  | { kind: 'stall'; deltas: string[] }
  /** Some deltas, then the socket is destroyed. */
  | { kind: 'reset'; deltas: string[] };

const chunk = (id: string, delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model: 'fake-gpt', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

async function writeDeltas(res: ServerResponse, id: string, deltas: string[], delayMs = 0): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write(chunk(id, { role: 'assistant', content: '' }));
  for (const text of deltas) {
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    res.write(chunk(id, { content: text }));
  }
}

export async function startOpenAIFake() {
  let n = 0;
  const fake = await startScriptedServer<OpenAIScript>(async (req, res, next) => {
    if (req.method === 'GET' && req.path.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake-gpt', object: 'model', created: 0, owned_by: 'fake' }] }));
      return;
    }
    const script = next() ?? { kind: 'stream', deltas: ['Hello', ' there'] };
    const id = `chatcmpl-${++n}`;
    switch (script.kind) {
      case 'status':
        res.writeHead(script.status, { 'content-type': 'application/json', ...script.headers });
        res.end(JSON.stringify(script.body ?? { error: { message: `status ${script.status}`, type: 'fake_error', code: null } }));
        return;
      case 'stream': {
        await writeDeltas(res, id, script.deltas, script.delayMs);
        res.write(chunk(id, {}, 'stop'));
        const usage = script.usage ?? { prompt_tokens: 12, completion_tokens: script.deltas.length };
        res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model: 'fake-gpt', choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } })}\n\n`);
        res.end('data: [DONE]\n\n');
        return;
      }
      case 'error-mid-stream':
        await writeDeltas(res, id, script.deltas);
        res.end(`data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error' } })}\n\n`);
        return;
      case 'malformed':
        await writeDeltas(res, id, script.deltas);
        res.end('data: {"id": "broken", "choices": [\n\n');
        return;
      case 'stall':
        await writeDeltas(res, id, script.deltas);
        return; // never ends
      case 'reset':
        await writeDeltas(res, id, script.deltas);
        setTimeout(() => res.socket?.destroy(), 20);
        return;
    }
  });
  return {
    url: `http://127.0.0.1:${fake.port}/v1`,
    requests: fake.requests,
    chatRequests: () => fake.requests.filter((r) => r.path.endsWith('/chat/completions')),
    script: fake.script,
    close: fake.close,
  };
}
