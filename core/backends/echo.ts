import type { Backend, BackendChunk, BackendRequest } from '../backend.js';

/**
 * The offline default: replies with the user's text (after the inbound plugs) verbatim, streamed in pieces, so the
 * whole path — streaming included — runs and is testable with no API key.
 */
export class EchoBackend implements Backend {
  readonly format = 'plain' as const;
  constructor(readonly name = 'echo') {}

  async *stream(request: BackendRequest): AsyncIterable<BackendChunk> {
    const last = [...request.messages].reverse().find((m) => m.role === 'user');
    const text = last?.content ?? '';
    // Pieces end after whitespace so that joining them restores the text exactly.
    for (const piece of text.match(/\S*\s*/gu) ?? []) {
      if (request.signal.aborted) throw request.signal.reason;
      if (piece) yield { type: 'delta', text: piece };
    }
    yield { type: 'usage', inputTokens: 0, outputTokens: 0 };
  }
}
