import type OpenAI from 'openai';
import { BackendUnavailableError, type Backend, type BackendCheck, type BackendChunk, type BackendRequest, type Pricing } from '../backend.js';
import type { BackendConfig } from '../config.js';
import { CallGuard, fitToBudget, lazySdk, mapSdkError, pinnedFetch } from './shared.js';

export type OpenAIBackendConfig = Extract<BackendConfig, { type: 'openai' }>;

/**
 * Any OpenAI-compatible chat-completions server (OpenAI, OpenRouter, Ollama, vLLM, llama.cpp, LM Studio) through the
 * official client, streamed over SSE. The client never retries (the fallback chain does) and only ever reaches the
 * configured base URL; nothing from the environment (OPENAI_BASE_URL, OPENAI_ORG_ID, …) changes where it goes.
 */
export class OpenAIBackend implements Backend {
  readonly format = 'markdown' as const;
  readonly model: string;
  readonly pricing?: Pricing;
  private readonly connect: () => Promise<{ sdk: typeof OpenAI; client: OpenAI }>;

  constructor(
    readonly name: string,
    private readonly config: OpenAIBackendConfig,
    apiKey: string | undefined,
  ) {
    this.model = config.model;
    if (config.pricing) this.pricing = config.pricing;
    this.connect = lazySdk(
      `backend ${name}`,
      async () => (await import('openai')).default,
      (Sdk) =>
        new Sdk({
          // Local servers (Ollama, llama.cpp) take no key; the client insists on one, so send a placeholder.
          apiKey: apiKey ?? 'no-key',
          baseURL: config.baseUrl,
          organization: null,
          project: null,
          maxRetries: 0,
          timeout: config.timeoutMs,
          fetch: pinnedFetch(config.baseUrl),
          logLevel: 'off',
        }),
    );
  }

  async *stream(request: BackendRequest): AsyncIterable<BackendChunk> {
    // Loaded before the guard's clocks start: the first call's import is no stall of the provider's.
    const { sdk, client } = await this.connect();
    const guard = new CallGuard(request.signal, `backend ${this.name}`, this.config.timeoutMs, this.config.idleTimeoutMs);
    try {
      const messages = fitToBudget(request.messages, this.config.contextTokens);
      let finished = false;
      try {
        const stream = await client.chat.completions.create(
          { model: request.model ?? this.model, messages, stream: true, stream_options: { include_usage: true } },
          { signal: guard.signal },
        );
        for await (const chunk of guard.iterate(stream)) {
          if (typeof chunk !== 'object' || chunk === null || !Array.isArray(chunk.choices)) {
            throw new BackendUnavailableError(`backend ${this.name}: malformed stream chunk`, { kind: 'malformed' });
          }
          for (const choice of chunk.choices) {
            const text = choice.delta?.content;
            if (typeof text === 'string' && text) yield { type: 'delta', text };
            if (choice.finish_reason) finished = true;
          }
          if (chunk.usage) {
            yield { type: 'usage', inputTokens: chunk.usage.prompt_tokens ?? 0, outputTokens: chunk.usage.completion_tokens ?? 0 };
          }
        }
      } catch (error) {
        throw mapSdkError(error, guard, sdk);
      }
      // A stream that ends without a finish reason was cut off: the reply may be half a sentence.
      if (!finished) throw new BackendUnavailableError(`backend ${this.name}: stream ended before the reply was complete`, { kind: 'stream_error' });
    } finally {
      guard.dispose();
    }
  }

  async check(signal: AbortSignal): Promise<BackendCheck> {
    const { sdk, client } = await this.connect();
    const guard = new CallGuard(signal, `backend ${this.name}`, Math.min(this.config.timeoutMs, 15_000));
    try {
      const page = await client.models.list({ signal: guard.signal });
      const ids = page.data.map((m) => m.id);
      if (ids.includes(this.model)) return `model ${this.model} available`;
      // A warning, not a failure: some servers list no models, or not every alias they serve; a typo shows up here.
      // The server's words: printable ASCII only, and short, before they reach a terminal.
      const some = ids.slice(0, 5).map((id) => id.replace(/[^\x20-\x7e]/g, '?').slice(0, 64)).join(', ');
      return { detail: `reachable, but the server does not list model ${this.model}${some ? ` (it lists ${some}${ids.length > 5 ? ', …' : ''})` : ''}`, warn: true };
    } catch (error) {
      throw mapSdkError(error, guard, sdk);
    } finally {
      guard.dispose();
    }
  }
}
