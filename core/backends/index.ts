import type { Backend } from '../backend.js';
import { ConfigError, type Config } from '../config.js';
import { AgentCliBackend } from './agent-cli.js';
import { AnthropicBackend } from './anthropic.js';
import { EchoBackend } from './echo.js';
import { OpenAIBackend } from './openai.js';

/** Turns a credential reference (`secret:NAME`, `env:NAME`) into its value; `field` names the config path for errors. */
export type ResolveRef = (ref: string, field: string) => string;

/**
 * Builds the named backend from the config alone. Credentials are resolved here, once, so a missing secret is a
 * start-up error that names its field rather than a failure on the first message.
 */
export function createBackend(name: string, config: Config, resolve: ResolveRef): Backend {
  const b = config.backends[name] ?? (name === 'echo' ? { type: 'echo' as const } : undefined);
  if (!b) throw new ConfigError(`unknown backend "${name}"`);
  const field = `backends.${name}`;
  switch (b.type) {
    case 'echo':
      return new EchoBackend(name);
    case 'openai':
      return new OpenAIBackend(name, b, b.apiKey ? resolve(b.apiKey, `${field}.apiKey`) : undefined);
    case 'anthropic':
      return new AnthropicBackend(name, b, resolve(b.apiKey, `${field}.apiKey`));
    case 'cli':
      return new AgentCliBackend(name, b, Object.fromEntries(Object.entries(b.env).map(([k, ref]) => [k, resolve(ref, `${field}.env.${k}`)])));
  }
}

export { AgentCliBackend, sessionWorkdir } from './agent-cli.js';
export { AnthropicBackend } from './anthropic.js';
export { EchoBackend } from './echo.js';
export { OpenAIBackend } from './openai.js';
