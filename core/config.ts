import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { identityProblem } from './identity.js';
import { apiRoot, httpsOrLoopback, httpUrl, isLoopbackHost, literalRedisUrlProblem, plainUrl } from './config-urls.js';
import { ENDPOINT_FORM, parseEndpoint } from './rpc-endpoint.js';

/**
 * The config file's schema (DESIGN.md "Config file"). Every object is strict: an unknown key is a config error,
 * so a typo never silently falls back to a default. Credentials are references (`secret:NAME`, `env:NAME`), never values.
 */

const REF = /^(secret|env):[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const credential = z.string().superRefine((v, ctx) => {
  if (REF.test(v)) return;
  // A reference with a bad name is a typo, not a pasted token: say which.
  const message = /^(secret|env):/.test(v)
    ? 'a reference names a secret or variable with letters, digits and _ (not starting with a digit), e.g. secret:TELEGRAM_TOKEN'
    : 'a credential must be a reference, secret:NAME or env:NAME; literal credentials are refused. ' +
      'Store it with `monkeyclaw secrets set NAME` (value on stdin) and write secret:NAME here';
  ctx.addIssue({ code: 'custom', message });
});

const identity = z.string().superRefine((value, ctx) => {
  const problem = identityProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const port = z.number().int().min(1).max(65535);

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

const common = {
  enabled: z.boolean().default(false),
  assistant: z.string().optional(),
  apiRoot: apiRoot.optional(),
  maxMessageChars: z.number().int().positive().optional(),
  streamEdits: z.boolean().default(false),
  /** With streamEdits: at most one edit of a growing reply per this many ms (the platforms allow about one a second). */
  streamEditMs: z.number().int().min(250).max(60_000).optional(),
};

const mailServerFields = {
  host: z.string().min(1),
  port,
  /** TLS from the first byte; the default unless `starttls: true` asks for the upgrade instead. */
  secure: z.boolean().optional(),
  starttls: z.boolean().optional(),
  user: z.string().min(1),
  password: credential,
};

/** The TLS rules every mail server obeys, IMAP or SMTP. */
const withTls = <T extends { host: string; secure?: boolean | undefined; starttls?: boolean | undefined }>(schema: z.ZodType<T>) =>
  schema
    .transform((s) => ({ ...s, secure: s.secure ?? s.starttls !== true }))
    .refine((s) => s.secure || s.starttls || isLoopbackHost(s.host), {
      message: 'secure: false (no TLS, no STARTTLS) is accepted only for loopback hosts',
      path: ['secure'],
    })
    .refine((s) => !(s.secure && s.starttls), { message: 'secure: true (TLS from the first byte) and starttls: true exclude each other', path: ['starttls'] });

/** Only IMAP has a mailbox: an SMTP section with one is a typo, refused like any unknown key. */
const imapServer = withTls(z.object({ ...mailServerFields, mailbox: z.string().optional() }).strict());
const smtpServer = withTls(z.object(mailServerFields).strict());

/**
 * What an enabled connector cannot run without, checked with the rest of the config: a missing token is a config
 * error naming its field before anything starts, not a child process that exits and is restarted.
 */
const whenEnabled =
  <T extends { enabled: boolean }>(missing: (c: T) => Array<[field: string, message: string] | false>) =>
  (c: T, ctx: z.RefinementCtx): void => {
    if (!c.enabled) return;
    for (const m of missing(c)) if (m) ctx.addIssue({ code: 'custom', path: [m[0]], message: m[1] });
  };

const connectors = z
  .object({
    telegram: z
      .object({
        ...common,
        token: credential.optional(),
        mode: z.enum(['polling', 'webhook']).default('polling'),
        webhook: z.object({ url: plainUrl, secretToken: credential }).strict().optional(),
      })
      .strict()
      .superRefine(
        whenEnabled((c) => [
          !c.token && ['token', 'required (the token from @BotFather, e.g. secret:TELEGRAM_TOKEN)'],
          c.mode === 'webhook' && !c.webhook && ['webhook', 'required in webhook mode ({ url, secretToken })'],
        ]),
      ),
    slack: z
      .object({
        ...common,
        botToken: credential.optional(),
        appToken: credential.optional(),
        signingSecret: credential.optional(),
        mode: z.enum(['socket', 'http']).default('socket'),
      })
      .strict()
      .superRefine(
        whenEnabled((c) => [
          !c.botToken && ['botToken', 'required (xoxb-…, e.g. secret:SLACK_BOT_TOKEN)'],
          c.mode === 'socket' && !c.appToken && ['appToken', 'required in socket mode (xapp-…, e.g. secret:SLACK_APP_TOKEN)'],
          c.mode === 'http' && !c.signingSecret && ['signingSecret', 'required in http mode (e.g. secret:SLACK_SIGNING_SECRET)'],
        ]),
      ),
    discord: z
      .object({
        ...common,
        // discord.js appends the version (/v10) itself: a root naming one would be asked for …/v10/v10/….
        apiRoot: apiRoot.refine((v) => !/\/v\d+\/*$/.test(v), 'must be the root without a version, like https://discord.com/api').optional(),
        token: credential.optional(),
      })
      .strict()
      .superRefine(whenEnabled((c) => [!c.token && ['token', 'required (the bot token, e.g. secret:DISCORD_TOKEN)']])),
    whatsapp: z.object({ ...common }).strict(),
    signal: z
      .object({
        ...common,
        rpc: z.string().refine((v) => parseEndpoint(v) !== undefined, ENDPOINT_FORM).optional(),
        account: z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be the number in international form, e.g. "+15550000000"').optional(),
        /** signal-cli is pinged (`version`) this often on the connector's connection; no answer within pingTimeoutMs = dead. */
        pingIntervalMs: z.number().int().min(1_000).optional(),
        pingTimeoutMs: z.number().int().min(500).optional(),
        /** No receive notification at all for this long and the connection is recycled (restarts signal-cli's receiving). */
        silentAfterMs: z.number().int().min(60_000).optional(),
      })
      .strict()
      .superRefine(
        whenEnabled((c) => [
          !c.rpc && ['rpc', 'required, e.g. tcp://127.0.0.1:7583 (signal-cli daemon --tcp)'],
          !c.account && ['account', 'required, the account\'s number in international form, e.g. "+15550000000"'],
        ]),
      ),
    email: z
      .object({
        ...common,
        address: z.email().optional(),
        imap: imapServer.optional(),
        smtp: smtpServer.optional(),
      })
      .strict()
      .superRefine(whenEnabled((c) => (['address', 'imap', 'smtp'] as const).map((f) => !c[f] && [f, 'required when the email connector is enabled']))),
  })
  .partial()
  .strict();
export type ConnectorName = keyof z.infer<typeof connectors>;

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
      redisUrl: z.string().min(1).superRefine((v, ctx) => {
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

export const configSchema = z
  .object({
    server: z
      .object({
        // An empty host would make Node listen on every interface.
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(7420),
        /**
         * Host names the dashboard answers to besides IP addresses, `localhost` and `host` (a proxy's public name):
         * any other name is refused, so a page whose DNS name was rebound to this address cannot use it.
         */
        allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'a DNS name, without port or scheme')).max(100).default([]),
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
      .default({ host: '127.0.0.1', port: 7420, allowedHosts: [], tls: { mode: 'off' } }),
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
      for (const b of [a.backend].flat()) {
        if (!backends.has(b)) ctx.addIssue({ code: 'custom', path: ['assistants', name, 'backend'], message: `unknown backend "${b}"` });
        // Claude Code and Codex run a tool, then report it: an approval could only come after the fact.
        const backend = config.backends[b];
        if (a.tools?.approve.length && backend?.type === 'cli' && backend.flavor !== 'jsonl') {
          ctx.addIssue({
            code: 'custom',
            path: ['assistants', name, 'tools', 'approve'],
            message: `backend "${b}" (${backend.flavor}) runs a tool before the gateway hears of it, so no approval can stop it: use a jsonl backend for approvals, or the CLI's own permission flags`,
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

export function parseConfig(input: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(input ?? {});
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
