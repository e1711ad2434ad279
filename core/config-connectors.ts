import { z } from 'zod';
import { credential, port } from './config-fields.js';
import { apiRoot, isLoopbackHost, plainUrl, websocketRoot } from './config-urls.js';
import { ENDPOINT_FORM, parseEndpoint } from './rpc-endpoint.js';

/** The config's `connectors` section: one strict object per platform, checked for what an enabled one needs. */

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

/**
 * Telegram's Bot API sets webhooks only on HTTPS and ports 443, 80, 88 or 8443: refused with the config, naming the
 * field, instead of as a setWebhook error in a crash-looping connector. A local Bot API server (another apiRoot) also
 * takes plain HTTP and any port.
 */
function telegramWebhookProblem(url: string, apiRoot: string | undefined): string | undefined {
  if (!URL.canParse(url) || (apiRoot && URL.canParse(apiRoot) && new URL(apiRoot).hostname !== 'api.telegram.org')) return undefined;
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:') return 'Telegram delivers webhooks only over HTTPS (https://…); plain HTTP works only with a local Bot API server as apiRoot';
  const port = parsed.port || '443';
  if (!['443', '80', '88', '8443'].includes(port)) return `Telegram delivers webhooks only to ports 443, 80, 88 or 8443, not ${port}`;
  return undefined;
}

export const connectors = z
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
        whenEnabled((c) => {
          const webhookProblem = c.webhook && telegramWebhookProblem(c.webhook.url, c.apiRoot);
          return [
            !c.token && ['token', 'required (the token from @BotFather, e.g. secret:TELEGRAM_TOKEN)'],
            c.mode === 'webhook' && !c.webhook && ['webhook', 'required in webhook mode ({ url, secretToken })'],
            !!webhookProblem && ['webhook.url', webhookProblem],
          ];
        }),
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
    // baileys speaks WhatsApp's protocol over one websocket: its root is that socket's URL.
    whatsapp: z.object({ ...common, apiRoot: websocketRoot.optional() }).strict(),
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
