/** The backend bridge: every model provider streams text deltas behind this one interface. */
export interface BackendMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface BackendRequest {
  messages: BackendMessage[];
  model?: string;
  signal: AbortSignal;
}

export type BackendChunk =
  | { type: 'delta'; text: string }
  | { type: 'usage'; inputTokens: number; outputTokens: number };

export interface Backend {
  readonly name: string;
  /** What the text is: echo repeats user text (plain); language models write markdown. */
  readonly format: 'plain' | 'markdown';
  readonly model?: string;
  stream(request: BackendRequest): AsyncIterable<BackendChunk>;
}

/** A backend failure worth trying the next backend for (timeout, 5xx, 429). */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
}
