import type Anthropic from '@anthropic-ai/sdk';
import { BackendUnavailableError, type Backend, type BackendChunk, type BackendRequest, type Pricing } from '../backend.js';
import type { BackendConfig } from '../config.js';
import { CallGuard, fitToBudget, lazySdk, mapSdkError, pinnedFetch } from './shared.js';

export type AnthropicBackendConfig = Extract<BackendConfig, { type: 'anthropic' }>;
export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';

/**
 * Anthropic's Messages API through the official client, streamed. The system prompt goes to `system`, never into the
 * messages. Usage comes from `message_start` (input) and `message_delta` (output, cumulative). The base URL is the
 * config's or Anthropic's own; ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN in the environment are ignored.
 */
export class AnthropicBackend implements Backend {
  readonly format = 'markdown' as const;
  readonly model: string;
  readonly pricing?: Pricing;
  private readonly connect: () => Promise<{ sdk: typeof Anthropic; client: Anthropic }>;

  constructor(
    readonly name: string,
    private readonly config: AnthropicBackendConfig,
    apiKey: string,
  ) {
    this.model = config.model;
    if (config.pricing) this.pricing = config.pricing;
    const baseURL = config.baseUrl ?? ANTHROPIC_DEFAULT_BASE_URL;
    this.connect = lazySdk(
      `backend ${name}`,
      async () => (await import('@anthropic-ai/sdk')).default,
      (Sdk) => new Sdk({ apiKey, authToken: null, baseURL, maxRetries: 0, timeout: config.timeoutMs, fetch: pinnedFetch(baseURL), logLevel: 'off' }),
    );
  }

  async *stream(request: BackendRequest): AsyncIterable<BackendChunk> {
    // Loaded before the guard's clocks start: the first call's import is no stall of the provider's.
    const { sdk, client } = await this.connect();
    const guard = new CallGuard(request.signal, `backend ${this.name}`, this.config.timeoutMs, this.config.idleTimeoutMs);
    try {
      const fitted = fitToBudget(request.messages, this.config.contextTokens && this.config.contextTokens - this.config.maxTokens);
      const system = fitted.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
      // Anthropic refuses an empty message (an API caller's assistant turn that only called a tool has no text).
      const messages = fitted.flatMap((m) => (m.role === 'system' || !m.content.trim() ? [] : [{ role: m.role, content: m.content }]));
      let inputTokens = 0;
      let outputTokens = 0;
      let stopped = false;
      let failure: Error | undefined;
      try {
        const stream = await client.messages.create(
          { model: request.model ?? this.model, max_tokens: this.config.maxTokens, ...(system ? { system } : {}), messages, stream: true },
          { signal: guard.signal },
        );
        for await (const event of guard.iterate(stream)) {
          if (typeof event !== 'object' || event === null || typeof event.type !== 'string') {
            throw new BackendUnavailableError(`backend ${this.name}: malformed stream event`, { kind: 'malformed' });
          }
          switch (event.type) {
            case 'message_start':
              inputTokens = usageNumber(event.message?.usage, 'input_tokens', inputTokens);
              outputTokens = usageNumber(event.message?.usage, 'output_tokens', outputTokens);
              break;
            case 'content_block_delta':
              if (event.delta?.type === 'text_delta' && event.delta.text) yield { type: 'delta', text: event.delta.text };
              break;
            case 'message_delta':
              inputTokens = usageNumber(event.usage, 'input_tokens', inputTokens);
              outputTokens = usageNumber(event.usage, 'output_tokens', outputTokens);
              break;
            case 'message_stop':
              stopped = true;
              break;
          }
        }
      } catch (error) {
        failure = mapSdkError(error, guard, sdk);
      }
      if (!failure && !stopped) failure = new BackendUnavailableError(`backend ${this.name}: stream ended before message_stop`, { kind: 'stream_error' });
      // What an attempt cost counts even when it failed (the budget charges it): said before the failure is.
      if (!failure || inputTokens || outputTokens) yield { type: 'usage', inputTokens, outputTokens };
      if (failure) throw failure;
    } finally {
      guard.dispose();
    }
  }

  async check(signal: AbortSignal): Promise<string> {
    const { sdk, client } = await this.connect();
    const guard = new CallGuard(signal, `backend ${this.name}`, Math.min(this.config.timeoutMs, 15_000));
    try {
      await client.models.list({ limit: 1 }, { signal: guard.signal });
      return 'reachable, API key accepted';
    } catch (error) {
      throw mapSdkError(error, guard, sdk);
    } finally {
      guard.dispose();
    }
  }
}

const usageNumber = (usage: unknown, key: string, fallback: number): number => {
  const v = (usage as Record<string, unknown> | null | undefined)?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
};
