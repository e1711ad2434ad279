import { isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';

/**
 * DNS rebinding: a web page on a name its owner points at 127.0.0.1 is, to the browser, the same origin as this
 * dashboard at that name, so the same-origin checks pass. A request names the host it meant in its URL (built from
 * `Host`, or from an absolute-form request target, which browsers never send): only IP addresses (which cannot be
 * rebound), `localhost`, the configured bind host and `server.allowedHosts` are answered.
 */
export function hostGuard(server: { host: string; allowedHosts: string[] }): MiddlewareHandler {
  const allowed = new Set(['localhost', server.host, ...server.allowedHosts].map((h) => h.toLowerCase()));
  return async function guardHost(c, next) {
    const name = new URL(c.req.url).hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(name) === 0 && !allowed.has(name) && !name.endsWith('.localhost')) {
      return c.text('Forbidden: this host name is not one the dashboard answers to (server.allowedHosts).', 403, { 'cache-control': 'no-store' });
    }
    await next();
  };
}
