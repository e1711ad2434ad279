import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { connectors } from './config-connectors.js';
import { credential, identity, port, REF } from './config-fields.js';
import { httpsOrLoopback, httpUrl, literalRedisUrlProblem } from './config-urls.js';

export type { ConnectorName } from './config-connectors.js';

/**
 * The config file's schema (DESIGN.md "Config file"). Every object is strict: an unknown key is a config error,
 * so a typo never silently falls back to a default. Credentials are references (`secret:NAME`, `env:NAME`), never values.
 */


export const pipelineEntry = z.union([
  z.string().min(1),
  z.object({ plug: z.string().min(1) }).catchall(z.unknown()),
]);
export type PipelineEntry = z.infer<typeof pipelineEntry>;

/** An assistant's name, as the config's keys and an event's `assistant` spell it. */
export const ASSISTANT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export const LIFECYCLE_EVENTS = ['inbound', 'request', 'response', 'outbound'] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];
export const DEFAULT_INBOUND_PIPELINE = ['rate-limit', 'access', 'group-gate', 'redact', 'guard'];

export const pipelinesSchema = z
  .object({
    inbound: z.array(pipelineEntry).default(DEFAULT_INBOUND_PIPELINE),
    request: z.array(pipelineEntry).default([]),
    response: z.array(pipelineEntry).default([]),
    outbound: z.array(pipelineEntry).default([]),
  })
  .strict();

const pricing = z.object({ inputPerMTok: z.number().nonnegative(), outputPerMTok: z.number().nonnegative() }).strict();
const timeouts = {
  /** The whole call, first byte to last. */
  timeoutMs: z.number().int().positive().default(300_000),
  /** No chunk for this long (the first included) and the call is abandoned as stalled. */
  idleTimeoutMs: z.number().int().positive().default(90_000),
};
/** Input budget in tokens (estimated as characters / 4): the oldest history turns are dropped first. */
const contextTokens = z.number().int().min(256).optional();
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const cliEnvName = z
  .string()
  .regex(ENV_NAME, 'must be an environment variable name')
  .refine((n) => n !== 'PATH' && n !== 'HOME', { message: 'PATH and HOME are set by the gateway (HOME is the session directory)' });
/** A key sent over plain http to another machine could be read on the way: refused, as for `secure: false` mail. */
const keyOverHttp = (b: { baseUrl?: string | undefined; apiKey?: string | undefined }): boolean => !b.apiKey || !b.baseUrl || httpsOrLoopback(b.baseUrl);
const keyOverHttpIssue = { message: 'an API key is sent over plain http only to a loopback host; use https', path: ['baseUrl'] };

const backend = z.discriminatedUnion('type', [
  z.object({ type: z.literal('echo') }).strict(),
  z
    .object({
      type: z.literal('openai'),
      baseUrl: httpUrl,
      model: z.string().min(1),
      apiKey: credential.optional(),
      ...timeouts,
      contextTokens,
      pricing: pricing.optional(),
    })
    .strict()
    .refine(keyOverHttp, keyOverHttpIssue),
  z
    .object({
      type: z.literal('anthropic'),
      baseUrl: httpUrl.optional(),
      model: z.string().min(1),
      apiKey: credential,
      maxTokens: z.number().int().positive().default(4096),
      ...timeouts,
      contextTokens,
      pricing: pricing.optional(),
    })
    .strict()
    .refine(keyOverHttp, keyOverHttpIssue),
  z
    .object({
      type: z.literal('cli'),
      flavor: z.enum(['claude-code', 'codex', 'jsonl']),
      /** Absolute path of the executable, spawned directly (never through a shell). */
      command: z.string().refine((c) => isAbsolute(c), { message: 'must be an absolute path to the executable' }),
      args: z.array(z.string().refine((a) => !a.includes('\0'), { message: 'must not contain NUL' })).default([]),
      /** The only variables the process gets besides PATH and HOME: each a credential reference. */
      env: z.record(cliEnvName, credential).default({}),
      /** A label for audit and the fallback footer; the jsonl flavor also receives it. */
      model: z.string().min(1).optional(),
      /** bubblewrap hides the data dir (vault, master key, other sessions) from the agent: see backends/sandbox.ts. */
      sandbox: z.enum(['auto', 'bwrap', 'none']).default('auto'),
      timeoutMs: z.number().int().positive().default(600_000),
      idleTimeoutMs: z.number().int().positive().optional(),
      contextTokens,
      pricing: pricing.optional(),
    })
    .strict(),
]);
export type BackendConfig = z.infer<typeof backend>;

const toolPattern = z.string().regex(/^[A-Za-z0-9_.*-]{1,64}(:.{1,200})?$/, 'must be Tool or Tool:<command glob>');

export const assistantSchema = z
  .object({
    backend: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default('echo'),
    systemPrompt: z.string().max(100_000).default('You are a helpful assistant.'),
    /** Overrides the primary backend's model; fallbacks always use their own. */
    model: z.string().min(1).optional(),
    pipelines: pipelinesSchema.default(() => pipelinesSchema.parse({})),
    /** auto: on timeout, 5xx or 429 the next backend answers; ask: the user is asked to reply /fallback first. */
    fallback: z.enum(['auto', 'ask']).default('auto'),
    /** The footer line under a reply from a fallback; `{model}` and `{backend}` are filled in; "" for none. */
    fallbackLabel: z.string().max(200).optional(),
    /**
     * What an agentic backend may do. Patterns are `Tool` or `Tool:<command glob>` (`*` any run of characters);
     * deny wins over approve, approve over allow, and anything unmatched is denied.
     */
    tools: z
      .object({
        allow: z.array(toolPattern).default([]),
        deny: z.array(toolPattern).default([]),
        approve: z.array(toolPattern).default([]),
        approvalTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(300_000),
      })
      .strict()
      .optional(),
  })
  .strict();
export type AssistantConfig = z.infer<typeof assistantSchema>;


const queue = z.discriminatedUnion('driver', [
  z
    .object({
      driver: z.literal('embedded'),
      leaseMs: z.number().int().min(500).default(30_000),
    })
    .strict(),
  z
    .object({
      driver: z.literal('bullmq'),
      /** A reference, or a literal redis:// URL without a password (a password in it is a literal credential). */
      redisUrl: z.string({ error: (i) => (i.input === undefined ? 'required: the Redis URL or a reference to it, such as env:REDIS_URL' : undefined) }).min(1).superRefine((v, ctx) => {
        const problem = REF.test(v) ? undefined : literalRedisUrlProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
      partitions: z.number().int().min(1).max(256).default(16),
      leaseMs: z.number().int().min(500).default(30_000),
      /** Redis key prefix; by default the data dir's own (gateway_identity), so gateways on one Redis keep apart. */
      prefix: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64').optional(),
    })
    .strict(),
]);

/** What the HTTP server may listen on: checked here, so a typo is a config error naming the field, not a failed start. */
const LISTEN_HOST = z.union([z.ipv4(), z.ipv6(), z.hostname()]);

export const configSchema = z
  .object({
    server: z
      .object({
        // An empty host would make Node listen on every interface.
        host: z.string().refine((h) => LISTEN_HOST.safeParse(h).success, 'must be an IP address (127.0.0.1, ::1) or a host name').default('127.0.0.1'),
        port: port.default(7420),
        /**
         * Host names the dashboard answers to besides IP addresses, `localhost` and `host` (a proxy's public name):
         * any other name is refused, so a page whose DNS name was rebound to this address cannot use it.
         */
        allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'a DNS name, without port or scheme')).max(100).default([]),
        /**
         * Plain HTTP on a host beyond loopback, said to be meant: in a container whose port is published on the
         * host's loopback only, or behind a proxy that speaks TLS. Without it `doctor` fails such a server.
         */
        allowPlainHttp: z.boolean().default(false),
        tls: z
          .object({
            mode: z.enum(['off', 'tls', 'mtls']).default('off'),
            // PEM paths; default <data-dir>/certs/server.crt, server.key, ca.crt (a relative path is taken from the data dir)
            cert: z.string().min(1).optional(),
            key: z.string().min(1).optional(),
            ca: z.string().min(1).optional(),
          })
          .strict()
          .default({ mode: 'off' }),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 7420, allowedHosts: [], allowPlainHttp: false, tls: { mode: 'off' } }),
    queue: queue.optional(),
    backends: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), backend).default({ echo: { type: 'echo' } }),
    assistants: z.record(z.string().regex(ASSISTANT_NAME), assistantSchema).default(() => ({ default: assistantSchema.parse({}) })),
    access: z
      .object({
        dm: z.enum(['pairing', 'allowlist', 'open']).default('pairing'),
        groups: z.enum(['allowlist', 'open']).default('allowlist'),
        allow: z.array(identity).default([]),
        deny: z.array(identity).default([]),
        owners: z.array(identity).default([]),
      })
      .strict()
      .default({ dm: 'pairing', groups: 'allowlist', allow: [], deny: [], owners: [] }),
    channels: z
      .record(
        identity,
        z
          .object({ requireMention: z.boolean().optional(), workspace: z.string().optional(), assistant: z.string().optional() })
          .strict(),
      )
      .default({}),
    connectors: connectors.default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    // Cross-references: every name used must exist, so a typo is a start-up error rather than a silent default.
    const backends = new Set(Object.keys(config.backends));
    backends.add('echo');
    for (const [name, a] of Object.entries(config.assistants)) {
      // Asking to fall back with nothing to fall back to would ask nobody anything: a list was meant.
      if (a.fallback === 'ask' && [a.backend].flat().length < 2) {
        ctx.addIssue({ code: 'custom', path: ['assistants', name, 'fallback'], message: 'ask needs a fallback to ask about: backend: [primary, fallback, …]' });
      }
      for (const b of [a.backend].flat()) {
        if (!backends.has(b)) ctx.addIssue({ code: 'custom', path: ['assistants', name, 'backend'], message: `unknown backend "${b}"` });
        // Codex runs a tool, then reports it: an approval could only come after the fact.
        const backend = config.backends[b];
        if (a.tools?.approve.length && backend?.type === 'cli' && backend.flavor === 'codex') {
          ctx.addIssue({
            code: 'custom',
            path: ['assistants', name, 'tools', 'approve'],
            message: `backend "${b}" (codex) runs a tool before the gateway hears of it, so no approval can stop it: use a jsonl or claude-code backend for approvals, or Codex's own sandbox flags`,
          });
        }
      }
    }
    const assistants = new Set(Object.keys(config.assistants));
    const refs: Array<[PropertyKey[], string | undefined]> = [
      ...Object.entries(config.connectors).map(([n, c]): [PropertyKey[], string | undefined] => [['connectors', n, 'assistant'], c?.assistant]),
      ...Object.entries(config.channels).map(([n, c]): [PropertyKey[], string | undefined] => [['channels', n, 'assistant'], c.assistant]),
    ];
    for (const [path, name] of refs) {
      if (name !== undefined && !assistants.has(name)) ctx.addIssue({ code: 'custom', path, message: `unknown assistant "${name}"` });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type QueueConfig = NonNullable<Config['queue']>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** zod's defaults speak of discriminators and `undefined`; a config's reader wants to hear what is missing. */
const plainWords: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'required';
  if (issue.code === 'invalid_union' && issue.note === 'No matching discriminator') {
    const given = (issue.input as Record<string, unknown> | undefined)?.[String(issue['discriminator'])];
    return `${given === undefined ? 'required:' : 'must be'} one of ${(issue['options'] as unknown[]).join(', ')}`;
  }
  return undefined;
};

export function parseConfig(input: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(input ?? {}, { error: plainWords });
  if (result.success) return result.data;
  const where = (path: PropertyKey[]) => (path.length ? path.join('.') : '(root)');
  // An unknown key is named by its own path (`server.hots`), not its parent's; a bad record key says what is wrong.
  const lines = result.error.issues.flatMap((i) => {
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => `  ${where([...i.path, k])}: unknown key`);
    if (i.code === 'invalid_key') return i.issues.map((inner) => `  ${where(i.path)}: ${inner.message}`);
    return [`  ${where(i.path)}: ${i.message}`];
  });
  throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`);
}

/** Queue choice (DESIGN): an explicit driver wins; with no queue section REDIS_URL selects BullMQ. */
export function resolveQueue(config: Config, env: NodeJS.ProcessEnv): QueueConfig {
  if (config.queue) return config.queue;
  if (env.REDIS_URL) return { driver: 'bullmq', redisUrl: 'env:REDIS_URL', partitions: 16, leaseMs: 30_000 };
  return { driver: 'embedded', leaseMs: 30_000 };
}

/** Resolves `env:NAME` (and, until the vault lands, refuses `secret:NAME` with a clear message); literals pass through. */
export function resolveRef(value: string, env: NodeJS.ProcessEnv, what: string): string {
  if (value.startsWith('env:')) {
    const v = env[value.slice(4)];
    if (!v) throw new ConfigError(`${what}: environment variable ${value.slice(4)} is not set`);
    return v;
  }
  if (value.startsWith('secret:')) throw new ConfigError(`${what}: secret references need the vault (secrets set)`);
  return value;
}
