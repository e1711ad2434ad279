import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createBackend } from '../../../core/backends/index.js';
import { ConfigError, parseConfig } from '../../../core/config.js';

/** The README's provider examples, verbatim: they must stay valid config. */
const README_EXAMPLE = `
backends:
  openai:
    type: openai
    baseUrl: https://api.openai.com/v1
    model: gpt-4o-mini
    apiKey: secret:OPENAI_API_KEY
    contextTokens: 100000
    pricing: { inputPerMTok: 0.15, outputPerMTok: 0.6 }
  openrouter:
    type: openai
    baseUrl: https://openrouter.ai/api/v1
    model: anthropic/claude-sonnet-4
    apiKey: secret:OPENROUTER_API_KEY
  ollama:
    type: openai
    baseUrl: http://127.0.0.1:11434/v1
    model: llama3.1
    contextTokens: 8000
  claude:
    type: anthropic
    model: claude-sonnet-4-5
    apiKey: secret:ANTHROPIC_API_KEY
    maxTokens: 4096
    timeoutMs: 300000
    idleTimeoutMs: 90000
    pricing: { inputPerMTok: 3, outputPerMTok: 15 }
  claude-code:
    type: cli
    flavor: claude-code
    command: /usr/local/bin/claude
    args: [-p, --output-format, stream-json, --verbose, --permission-mode, default]
    env: { ANTHROPIC_API_KEY: secret:ANTHROPIC_API_KEY }
    model: claude-code
    timeoutMs: 600000
  codex:
    type: cli
    flavor: codex
    command: /usr/local/bin/codex
    args: [exec, --json, --sandbox, read-only, --skip-git-repo-check, "-"]
    env: { OPENAI_API_KEY: secret:OPENAI_API_KEY }
    model: codex
  my-agent:
    type: cli
    flavor: jsonl
    command: /opt/agents/my-agent
    args: [--jsonl]
    env: { MY_AGENT_TOKEN: env:MY_AGENT_TOKEN }
assistants:
  default:
    backend: [claude, openai, ollama]
    fallback: auto
    fallbackLabel: "— answered by {model} (fallback)"
  coder:
    backend: [claude-code, codex]
    fallback: ask
`;

describe('backend configuration', () => {
  it('accepts the README examples and builds every backend without touching the network', () => {
    const config = parseConfig(parse(README_EXAMPLE));
    const resolved: string[] = [];
    const resolve = (ref: string, field: string) => (resolved.push(`${field}=${ref}`), `value-of-${ref}`);
    const built = Object.keys(config.backends).map((name) => createBackend(name, config, resolve));
    expect(built.map((b) => `${b.name}:${b.format}:${b.model ?? '-'}`)).toEqual([
      'openai:markdown:gpt-4o-mini',
      'openrouter:markdown:anthropic/claude-sonnet-4',
      'ollama:markdown:llama3.1',
      'claude:markdown:claude-sonnet-4-5',
      'claude-code:markdown:claude-code',
      'codex:markdown:codex',
      'my-agent:markdown:-',
    ]);
    expect(resolved).toContain('backends.claude-code.env.ANTHROPIC_API_KEY=secret:ANTHROPIC_API_KEY');
    expect(resolved).toContain('backends.my-agent.env.MY_AGENT_TOKEN=env:MY_AGENT_TOKEN');
    expect(config.backends.claude).toMatchObject({ maxTokens: 4096, timeoutMs: 300_000, idleTimeoutMs: 90_000 });
    expect(config.assistants.coder).toMatchObject({ fallback: 'ask' });
  });

  it('names the field of a bad backend definition', () => {
    const err = (backends: unknown) => {
      try {
        parseConfig({ backends });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      return '';
    };
    expect(err({ x: { type: 'openai', baseUrl: 'http://10.0.0.5:8000/v1', model: 'm', apiKey: 'env:K' } })).toMatch(/backends\.x\.baseUrl: an API key is sent over plain http only to a loopback host/);
    expect(err({ x: { type: 'openai', baseUrl: 'http://10.0.0.5:8000/v1', model: 'm' } })).toBe(''); // no key, LAN server: allowed
    expect(err({ x: { type: 'openai', baseUrl: 'https://api.openai.com/v1', model: 'm', pricing: { inputPerMTok: -1, outputPerMTok: 1 } } })).toMatch(/backends\.x\.pricing\.inputPerMTok/);
    expect(err({ x: { type: 'openai', baseUrl: 'https://api.openai.com/v1', model: 'm', contextTokens: 10 } })).toMatch(/backends\.x\.contextTokens/);
    expect(err({ x: { type: 'cli', flavor: 'aider', command: '/usr/bin/aider' } })).toMatch(/backends\.x\.flavor/);
    expect(err({ x: { type: 'openai', baseUrl: 'https://a/v1', model: 'm', extra: 1 } })).toMatch(/extra/);
  });

  it('reports an unresolvable credential as a start-up error naming its field', () => {
    const config = parseConfig({ backends: { c: { type: 'anthropic', model: 'm', apiKey: 'secret:MISSING' } } });
    const resolve = (ref: string, field: string): string => {
      throw new ConfigError(`${field}: ${ref} is not in the vault`);
    };
    expect(() => createBackend('c', config, resolve)).toThrow(/backends\.c\.apiKey: secret:MISSING/);
    expect(() => createBackend('nope', config, resolve)).toThrow(/unknown backend "nope"/);
  });
});
