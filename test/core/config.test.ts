import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, resolveQueue } from '../../core/config.js';

/** The config file exactly as DESIGN.md shows it. */
const DESIGN_EXAMPLE = `
server: { host: 127.0.0.1, port: 7420, tls: { mode: off } }
queue:  { driver: embedded }
backends:
  echo:  { type: echo }
  local: { type: openai, baseUrl: http://127.0.0.1:11434/v1, model: llama3.1, apiKey: secret:OLLAMA_KEY }
assistants:
  default:
    backend: echo
    systemPrompt: You are a helpful assistant.
    pipelines: { inbound: [rate-limit, access, group-gate, redact, guard] }
access:
  dm: pairing
  groups: allowlist
  allow: ["telegram:123456789", "telegram:-1001234567890"]
  owners: ["telegram:123456789"]
connectors:
  telegram: { enabled: true, token: secret:TELEGRAM_TOKEN, mode: polling, apiRoot: https://api.telegram.org, assistant: default }
  slack:    { enabled: false, botToken: secret:SLACK_BOT_TOKEN, appToken: secret:SLACK_APP_TOKEN, signingSecret: secret:SLACK_SIGNING_SECRET,
              mode: socket, apiRoot: https://slack.com/api/ }
  discord:  { enabled: false, token: secret:DISCORD_TOKEN, apiRoot: https://discord.com/api }
  whatsapp: { enabled: false }
  signal:   { enabled: false, rpc: tcp://127.0.0.1:7583, account: "+15550000000" }
  email:
    enabled: false
    address: assistant@example.org
    imap: { host: imap.example.org, port: 993, secure: true, user: assistant@example.org, password: secret:IMAP_PASSWORD, mailbox: INBOX }
    smtp: { host: smtp.example.org, port: 465, secure: true, user: assistant@example.org, password: secret:SMTP_PASSWORD }
`;

const errorOf = (input: unknown): string => {
  try {
    parseConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a config error');
};

describe('config', () => {
  it('accepts the design document example as written', () => {
    const c = parseConfig(parseYaml(DESIGN_EXAMPLE));
    expect(c.connectors.telegram?.token).toBe('secret:TELEGRAM_TOKEN');
    expect(c.assistants.default?.pipelines.inbound).toEqual(['rate-limit', 'access', 'group-gate', 'redact', 'guard']);
  });

  it('defaults to the echo backend, pairing DMs, allowlisted groups, loopback HTTP', () => {
    const c = parseConfig({});
    expect(c.server).toEqual({ host: '127.0.0.1', port: 7420, allowedHosts: [], allowPlainHttp: false, tls: { mode: 'off' } });
    expect(c.access).toMatchObject({ dm: 'pairing', groups: 'allowlist', allow: [], owners: [] });
    expect(c.assistants.default?.backend).toBe('echo');
    // An empty host would listen on every interface.
    expect(() => parseConfig({ server: { host: '' } })).toThrow(/server\.host/);
  });

  it('says in plain words what a missing or unknown choice should be', () => {
    expect(errorOf({ queue: {} })).toContain('queue.driver: required: one of embedded, bullmq');
    expect(errorOf({ queue: { driver: 'rabbit' } })).toContain('queue.driver: must be one of embedded, bullmq');
    expect(errorOf({ queue: { driver: 'bullmq' } })).toContain('queue.redisUrl: required: the Redis URL or a reference to it, such as env:REDIS_URL');
    expect(errorOf({ backends: { x: { type: 'echo' }, y: { type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' } } })).toContain('backends.y.model: required');
    expect(errorOf({ server: { port: 'high' } })).toContain('server.port: Invalid input: expected number, received string');
    for (const host of ['127.0.0.1\u0000evil', '::ffff:999.1.1.1', 'a'.repeat(300), 'two words']) {
      expect(errorOf({ server: { host } })).toContain('server.host: must be an IP address (127.0.0.1, ::1) or a host name');
    }
    for (const host of ['127.0.0.1', '::1', '0.0.0.0', 'localhost', 'gateway.internal']) expect(parseConfig({ server: { host } }).server.host).toBe(host);
  });

  it('refuses an unknown key anywhere, naming its path', () => {
    expect(errorOf({ server: { port: 1, colour: 'blue' } })).toContain('server.colour: unknown key');
    expect(errorOf({ connectors: { telegram: { enabled: true, tokne: 'secret:X' } } })).toContain('connectors.telegram.tokne: unknown key');
    expect(errorOf({ serverx: {} })).toContain('serverx: unknown key');
  });

  it('refuses access entries that could never match a platform id, naming the entry', () => {
    expect(errorOf({ access: { allow: ['telegram:@grace'] } })).toContain('access.allow.0: a telegram identity must be a numeric user or chat id');
    expect(errorOf({ access: { owners: ['whatsapp:+15551234567'] } })).toContain('access.owners.0: a whatsapp identity must be a JID');
    // Forms other clients write, which the connector never puts on an event.
    for (const jid of ['15551234567@c.us', '15551234567:12@s.whatsapp.net', '+15551234567@s.whatsapp.net', '15551234567@example.com', 'status@broadcast']) {
      expect(errorOf({ access: { allow: [`whatsapp:${jid}`] } }), jid).toContain('a whatsapp identity must be a JID as the connector sees it');
    }
    expect(errorOf({ access: { deny: ['discord:general'] } })).toContain('access.deny.0: a discord identity must be a numeric');
    expect(errorOf({ channels: { 'slack:general': {} } })).toContain('a slack identity must be a user or channel id');
    expect(errorOf({ access: { allow: ['signal:+15550000000'] } })).toContain('a signal identity must be a lower-case uuid');
    expect(errorOf({ access: { allow: ['signal:A11CE000-1D2E-4F3A-8B4C-5D6E7F809102'] } })).toContain('a signal identity must be a lower-case uuid');
    expect(errorOf({ access: { allow: ['email:Ada@Example.org'] } })).toContain('an email identity must be an address in lower case');
    // Ids never start with a zero, and an entry for no platform the gateway talks to admits nobody.
    expect(errorOf({ access: { allow: ['telegram:0123'] } })).toContain('a telegram identity must be a numeric');
    expect(errorOf({ access: { allow: ['foo:123'] } })).toContain('access.allow.0: foo is no platform the gateway talks to');
    // The gateway's own surfaces have one form each, and there are no wildcards.
    expect(errorOf({ access: { deny: ['api:*'] } })).toContain('access.deny.0: an api identity must be an API key id as `apikey list` prints it');
    expect(errorOf({ access: { owners: ['web:bob'] } })).toContain('access.owners.0: a web identity must be web:admin');
    expect(errorOf({ access: { deny: ['loopback:me'] } })).toContain('a loopback identity must be loopback:local');
    expect(() => parseConfig({ access: { deny: ['api:Q2x7Rk9a', 'web:admin'], owners: ['loopback:local'] } })).not.toThrow();
    const ok = ['telegram:-1001234567890', 'discord:80351110224678912', 'slack:C0123ABCD', 'whatsapp:15551234567@s.whatsapp.net', 'whatsapp:120363041234567890@g.us', 'whatsapp:15551234567-1600000000@g.us', 'whatsapp:98765432101234@lid', 'email:ada@example.org', 'signal:a11ce000-1d2e-4f3a-8b4c-5d6e7f809102', 'signal:Pmpi+EfPWmsxiomLe9Nx2XF9HOE483p6iKiFj65iMwI=', 'api:Q2x7Rk9a', 'web:admin', 'loopback:local'];
    expect(parseConfig({ access: { allow: ok } }).access.allow).toEqual(ok);
  });

  it('refuses tool approvals Codex would run past, and takes them for agents that ask first (jsonl, Claude Code)', () => {
    const agent = (flavor: string) => ({ type: 'cli', flavor, command: '/usr/bin/agent' });
    const config = (flavor: string) => ({
      backends: { agent: agent(flavor) },
      assistants: { coder: { backend: 'agent', tools: { allow: ['Read'], approve: ['Bash:git push*'] } } },
    });
    expect(errorOf(config('codex'))).toMatch(/assistants\.coder\.tools\.approve: backend "agent" \(codex\) runs a tool before the gateway hears of it/);
    expect(() => parseConfig(config('jsonl'))).not.toThrow();
    expect(() => parseConfig(config('claude-code'))).not.toThrow();
    // Allow and deny rules stay valid for Codex: a tool the rules do not allow stops the run.
    expect(() => parseConfig({ ...config('codex'), assistants: { coder: { backend: 'agent', tools: { allow: ['Read'] } } } })).not.toThrow();
  });

  it('refuses a literal credential and says how to store it, without echoing it', () => {
    const token = '123456789:AAHfakefakefakefakefakefakefakefake12';
    const message = errorOf({ connectors: { telegram: { token } } });
    expect(message).toMatch(/connectors\.telegram\.token: .*secrets set NAME/);
    expect(message).not.toContain(token);
    expect(errorOf({ backends: { x: { type: 'openai', baseUrl: 'http://127.0.0.1/v1', model: 'm', apiKey: 'sk-abc' } } })).toMatch(/backends\.x\.apiKey/);
    // A reference with a bad name is a typo, and is called one.
    expect(errorOf({ connectors: { telegram: { token: 'secret:bad-name' } } })).toMatch(/connectors\.telegram\.token: a reference names a secret or variable with letters/);
    // A queue URL is a credential only when it holds a password.
    const redis = (redisUrl: string) => ({ queue: { driver: 'bullmq', redisUrl } });
    for (const hidden of ['redis://:hunter2@10.0.0.1:6379', 'rediss://default:hunter2@10.0.0.1:6379', 'redis://10.0.0.1:6379?password=hunter2']) {
      expect(errorOf(redis(hidden))).toMatch(/queue\.redisUrl: holds a user or password/);
      expect(errorOf(redis(hidden))).not.toContain('hunter2');
    }
    // Shapes ioredis also reads a password from, without a scheme: refused as not a redis:// URL.
    for (const odd of ['default:hunter2@10.0.0.1:6379', ':hunter2@10.0.0.1:6379']) expect(errorOf(redis(odd))).toMatch(/queue\.redisUrl: must be a redis:\/\//);
    expect(errorOf(redis('redis://default@10.0.0.1:6379'))).toMatch(/queue\.redisUrl: holds a user or password/);
    expect(() => parseConfig(redis('redis://127.0.0.1:6379'))).not.toThrow();
    expect(() => parseConfig(redis('env:REDIS_URL'))).not.toThrow();
    // Nor may any other URL hold one: a backend's base URL, a platform's API root.
    const withUser = 'https://user:sk-hunter2@llm.example.org/v1';
    for (const config of [
      { backends: { x: { type: 'openai', baseUrl: withUser, model: 'm' } } },
      { connectors: { slack: { apiRoot: withUser } } },
      { connectors: { telegram: { apiRoot: 'https://token@api.example.org' } } },
    ]) {
      expect(errorOf(config)).toMatch(/(baseUrl|apiRoot): holds a user or password/);
      expect(errorOf(config)).not.toContain('hunter2');
    }
  });

  it('refuses a credential in a URL\'s query string, by the names such parameters go by, and keeps other parameters', () => {
    for (const param of ['key', 'api_key', 'api-key', 'apikey', 'apiKey', 'access_token', 'token', 'client_secret', 'sig', 'x-amz-signature', 'password', 'bearer', 'jwt']) {
      const config = { backends: { x: { type: 'openai', baseUrl: `https://llm.example.org/v1?${param}=sk-hunter2`, model: 'm' } } };
      expect(errorOf(config), param).toMatch(/baseUrl: holds a credential in its query string/);
      expect(errorOf(config)).not.toContain('hunter2');
    }
    expect(errorOf({ connectors: { telegram: { apiRoot: 'https://proxy.example.org/?token=abc' } } })).toMatch(/apiRoot: holds a credential in its query string/);
    // Azure's api-version, a region: not credentials.
    expect(() => parseConfig({ backends: { x: { type: 'openai', baseUrl: 'https://x.openai.azure.com/openai?api-version=2024-06-01&region=eu', model: 'm' } } })).not.toThrow();
  });

  it('sends a platform token over plain http only to a loopback API root', () => {
    const root = (name: 'telegram' | 'slack' | 'discord', apiRoot: string) => ({ connectors: { [name]: { apiRoot } } });
    for (const name of ['telegram', 'slack', 'discord'] as const) {
      expect(errorOf(root(name, 'http://api.example.org/api'))).toMatch(new RegExp(`connectors\\.${name}\\.apiRoot: must be https://`));
      expect(() => parseConfig(root(name, 'http://127.0.0.1:8081/api'))).not.toThrow();
      expect(() => parseConfig(root(name, 'https://proxy.example.org/api'))).not.toThrow();
    }
  });

  it("takes WhatsApp's root as the websocket baileys dials: wss://, plain ws:// only to a loopback host", () => {
    const root = (apiRoot: string) => ({ connectors: { whatsapp: { apiRoot } } });
    expect(() => parseConfig(root('wss://web.whatsapp.com/ws/chat'))).not.toThrow();
    expect(() => parseConfig(root('ws://127.0.0.1:8443/ws/chat'))).not.toThrow();
    for (const bad of ['ws://proxy.example.org/ws/chat', 'https://web.whatsapp.com/ws/chat']) {
      expect(errorOf(root(bad))).toMatch(/connectors\.whatsapp\.apiRoot: must be a wss:\/\/ URL/);
    }
    expect(errorOf(root('wss://u:hunter2@proxy.example.org/ws'))).toMatch(/connectors\.whatsapp\.apiRoot: holds a user or password/);
  });

  it('says which field holds something that is no URL at all, as a config error (it was a bare "Invalid URL")', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ connectors: { telegram: { apiRoot: 'not a url' } } }, /connectors\.telegram\.apiRoot/],
      [{ connectors: { discord: { apiRoot: '' } } }, /connectors\.discord\.apiRoot/],
      [{ connectors: { whatsapp: { apiRoot: 'nope' } } }, /connectors\.whatsapp\.apiRoot/],
      [{ connectors: { telegram: { webhook: { url: 'nope', secretToken: 'env:S' } } } }, /connectors\.telegram\.webhook\.url/],
      [{ backends: { x: { type: 'openai', baseUrl: '::::', model: 'm', apiKey: 'env:K' } } }, /backends\.x\.baseUrl/],
    ];
    for (const [config, field] of cases) {
      expect(() => parseConfig(config)).toThrow(ConfigError);
      expect(errorOf(config)).toMatch(field);
    }
  });

  it('accepts secure: false only for loopback mail hosts', () => {
    const mail = (host: string) => ({ connectors: { email: { imap: { host, port: 143, secure: false, user: 'u', password: 'env:P' } } } });
    expect(() => parseConfig(mail('127.0.0.1'))).not.toThrow();
    expect(() => parseConfig(mail('LOCALHOST'))).not.toThrow();
    expect(errorOf(mail('imap.example.org'))).toMatch(/connectors\.email\.imap\.secure: .*loopback/);
    const smtp = { host: '127.0.0.1', port: 25, secure: false, user: 'u', password: 'env:P' };
    expect(errorOf({ connectors: { email: { smtp: { ...smtp, mailbox: 'Sent' } } } })).toContain('connectors.email.smtp.mailbox: unknown key');
    expect(errorOf({ connectors: { email: { smtp: { ...smtp, host: 'smtp.example.org' } } } })).toMatch(/connectors\.email\.smtp\.secure: .*loopback/);
  });

  it('refuses a signal rpc endpoint without a usable host and port', () => {
    const signal = (rpc: string) => ({ connectors: { signal: { rpc } } });
    for (const rpc of ['tcp://127.0.0.1:99999', 'tcp://127.0.0.1', 'tcp://127.0.0.1:0', 'tcp://:7583', 'http://127.0.0.1:8080/api']) {
      expect(errorOf(signal(rpc))).toContain('connectors.signal.rpc: must be tcp://host:port or http://host:port');
    }
    for (const rpc of ['tcp://127.0.0.1:7583', 'http://[::1]:8080', 'tcp://localhost:1']) expect(() => parseConfig(signal(rpc))).not.toThrow();
  });

  it('refuses an enabled connector without what it cannot run without, and ignores a disabled one', () => {
    const message = errorOf({
      connectors: {
        telegram: { enabled: true, mode: 'webhook' },
        slack: { enabled: true, botToken: 'env:B' },
        discord: { enabled: true },
        signal: { enabled: true, rpc: 'tcp://127.0.0.1:7583' },
        email: { enabled: true, address: 'a@example.org' },
      },
    });
    for (const field of ['telegram.token', 'telegram.webhook', 'slack.appToken', 'discord.token', 'signal.account', 'email.imap', 'email.smtp']) {
      expect(message).toContain(`connectors.${field}: required`);
    }
    expect(message).not.toMatch(/signal\.rpc|email\.address|slack\.botToken|slack\.signingSecret/);
    expect(() => parseConfig({ connectors: { telegram: { enabled: false }, discord: {} } })).not.toThrow();
  });

  it('takes starttls: true alone to mean the upgrade on a plain connection (port 587)', () => {
    const smtp = { host: 'smtp.example.org', port: 587, starttls: true, user: 'u', password: 'env:P' };
    expect(parseConfig({ connectors: { email: { smtp } } }).connectors.email?.smtp).toMatchObject({ secure: false, starttls: true });
    expect(parseConfig({ connectors: { email: { smtp: { ...smtp, starttls: undefined, port: 465 } } } }).connectors.email?.smtp).toMatchObject({ secure: true });
    expect(errorOf({ connectors: { email: { smtp: { ...smtp, secure: true } } } })).toMatch(/connectors\.email\.smtp\.starttls: .*exclude each other/);
  });

  it('refuses fallback: ask for an assistant with one backend, which has nothing to fall back to', () => {
    expect(errorOf({ assistants: { solo: { backend: 'echo', fallback: 'ask' } } })).toContain('assistants.solo.fallback: ask needs a fallback to ask about');
    expect(errorOf({ assistants: { solo: { backend: ['echo'], fallback: 'ask' } } })).toContain('assistants.solo.fallback: ask needs a fallback');
    expect(() => parseConfig({ backends: { b: { type: 'echo' } }, assistants: { two: { backend: ['echo', 'b'], fallback: 'ask' } } })).not.toThrow();
  });

  it('refuses references to backends and assistants that do not exist', () => {
    expect(errorOf({ assistants: { a: { backend: ['echo', 'gpt'] } } })).toMatch(/assistants\.a\.backend: unknown backend "gpt"/);
    expect(errorOf({ connectors: { telegram: { assistant: 'nobody' } } })).toMatch(/connectors\.telegram\.assistant: unknown assistant/);
  });

  it('chooses the queue: explicit driver wins, else REDIS_URL selects BullMQ, else embedded', () => {
    expect(resolveQueue(parseConfig({}), {}).driver).toBe('embedded');
    expect(resolveQueue(parseConfig({}), { REDIS_URL: 'redis://127.0.0.1:6390' })).toMatchObject({ driver: 'bullmq', redisUrl: 'env:REDIS_URL' });
    expect(resolveQueue(parseConfig({ queue: { driver: 'embedded' } }), { REDIS_URL: 'redis://x' }).driver).toBe('embedded');
  });
});
