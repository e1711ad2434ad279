import { z } from 'zod';

/** The config's rules for URLs: where a credential may travel, and that none is written into a URL itself. */

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '[0:0:0:0:0:0:0:1]']);
// Host names are case-insensitive: LOCALHOST is this machine too.
export const isLoopbackHost = (host: string): boolean => LOOPBACK_HOSTS.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * A URL rule that holds for anything that is no URL at all: zod runs every refinement even after `z.url()` failed,
 * and that failure is the one to report (naming the field), not a TypeError from `new URL` that names nothing.
 */
const ofUrl = (rule: (url: URL) => boolean) => (v: string): boolean => !URL.canParse(v) || rule(new URL(v));

/** Where a credential goes with every request: https, or plain http only to this machine (a fake, a proxy). */
export const httpsOrLoopback = ofUrl(({ protocol, hostname }) => protocol === 'https:' || (protocol === 'http:' && isLoopbackHost(hostname)));

/** A user or password written into a URL is a literal credential like any other. */
const withoutUserinfo = ofUrl(({ username, password }) => !username && !password);
const USERINFO = 'holds a user or password: a literal credential is refused; use the credential fields, as secret:NAME';

/**
 * Query parameters that carry credentials, by how their names end (`key`, `apikey`, `access_token`, `client_secret`,
 * `X-Amz-Signature`, `jwt`…): a false alarm costs a config edit, a miss a credential in plain text.
 */
const SECRET_PARAM = /(?:key|token|secret|password|passwd|pwd|auth|signature|sig|credentials?|bearer|jwt)$/i;
const withoutSecretParams = ofUrl((url) => ![...url.searchParams.keys()].some((k) => SECRET_PARAM.test(k)));
const SECRET_QUERY = 'holds a credential in its query string: a literal credential is refused; use the credential fields, as secret:NAME';

/** Any URL the config holds that is not a credential's destination: still no credential written into it. */
export const plainUrl = z.url().refine(withoutUserinfo, USERINFO).refine(withoutSecretParams, SECRET_QUERY);

export const httpUrl = z
  .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
  .refine(withoutUserinfo, USERINFO)
  .refine(withoutSecretParams, SECRET_QUERY);

/** A platform's API root: every request to it carries the bot's credential. */
export const apiRoot = z
  .url()
  .refine(withoutUserinfo, USERINFO)
  .refine(withoutSecretParams, SECRET_QUERY)
  .refine(httpsOrLoopback, 'must be https:// (plain http only to a loopback host: the bot token goes with every request)');

/** Where a websocket may go: wss, or plain ws only to this machine (a fake, a proxy). */
const wssOrLoopback = ofUrl(({ protocol, hostname }) => protocol === 'wss:' || (protocol === 'ws:' && isLoopbackHost(hostname)));

/** WhatsApp's root is the websocket baileys dials (wss://web.whatsapp.com/ws/chat), not an HTTP API. */
export const websocketRoot = z
  .url()
  .refine(withoutUserinfo, USERINFO)
  .refine(withoutSecretParams, SECRET_QUERY)
  .refine(wssOrLoopback, 'must be a wss:// URL like wss://web.whatsapp.com/ws/chat (plain ws:// only to a loopback host)');

/**
 * What is wrong with a Redis URL written in the config itself. ioredis reads a password from the userinfo, from a
 * `password` query parameter, and from URLs without a scheme; only a plain redis:// or rediss:// URL with none of
 * that is accepted, so no password can hide in a shape this check does not know.
 */
export function literalRedisUrlProblem(v: string): string | undefined {
  if (!/^rediss?:\/\//i.test(v) || !URL.canParse(v)) return 'must be a redis:// or rediss:// URL, or a reference (env:NAME, secret:NAME)';
  const url = new URL(v);
  if (url.username || url.password || url.searchParams.has('password')) {
    return 'holds a user or password: a literal credential is refused. Store the URL with `monkeyclaw secrets set NAME` and write secret:NAME';
  }
  return undefined;
}
