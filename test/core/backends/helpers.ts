import type { Backend, BackendChunk, BackendMessage, BackendRequest, ToolDecision } from '../../../core/backend.js';
import { createBackend } from '../../../core/backends/index.js';
import { parseConfig } from '../../../core/config.js';

/** A resolver over a fixed table, as the caller (runtime, vault) would provide one. */
export const resolverOf =
  (values: Record<string, string>) =>
  (ref: string, field: string): string => {
    const v = values[ref];
    if (v === undefined) throw new Error(`${field}: ${ref} is not set`);
    return v;
  };

/** One backend built from a config fragment, through the real schema and factory. */
export function backendFrom(def: Record<string, unknown>, secrets: Record<string, string> = {}, name = 'b'): Backend {
  return createBackend(name, parseConfig({ backends: { [name]: def } }), resolverOf(secrets));
}

export const conversation = (user = 'hello', history: BackendMessage[] = []): BackendMessage[] => [
  { role: 'system', content: 'You are terse.' },
  ...history,
  { role: 'user', content: user },
];

/** Runs one call to the end, answering tool requests with `decide`; keeps what streamed before any error. */
export async function run(
  backend: Backend,
  messages: BackendMessage[],
  extra: Partial<BackendRequest> & { decide?: (c: Extract<BackendChunk, { type: 'tool_request' }>) => ToolDecision | Promise<ToolDecision> } = {},
): Promise<{ chunks: BackendChunk[]; text: string; error?: Error; ms: number }> {
  const { decide, ...request } = extra;
  const chunks: BackendChunk[] = [];
  const started = Date.now();
  try {
    const it = backend.stream({ messages, signal: new AbortController().signal, ...request })[Symbol.asyncIterator]();
    let answer: ToolDecision | undefined;
    for (;;) {
      const step = await it.next(answer);
      answer = undefined;
      if (step.done) break;
      chunks.push(step.value);
      if (step.value.type === 'tool_request' && decide) answer = await decide(step.value);
    }
  } catch (error) {
    return { chunks, text: textOf(chunks), error: error as Error, ms: Date.now() - started };
  }
  return { chunks, text: textOf(chunks), ms: Date.now() - started };
}

export const textOf = (chunks: BackendChunk[]): string => chunks.map((c) => (c.type === 'delta' ? c.text : '')).join('');
