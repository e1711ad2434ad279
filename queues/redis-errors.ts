import { plainNetError } from '../core/net-errors.js';

/** Why Redis does not answer, in words someone who only wrote a URL can act on; undefined for other errors. */
export function plainRedisError(error: unknown, url: string): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  if (/NOAUTH/.test(message)) return 'Redis requires a password: put it in the URL and store that as secret:NAME';
  if (/WRONGPASS/.test(message)) return 'Redis refused the user name or password in the URL';
  let at = { host: 'the Redis host', port: 6379 };
  if (URL.canParse(url)) {
    const u = new URL(url);
    at = { host: u.hostname, port: Number(u.port || 6379) };
  }
  const net = plainNetError(error, at);
  return net ? `Redis: ${net}` : undefined;
}
