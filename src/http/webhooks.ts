import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AuditInput } from '../../core/audit.js';
import type { WebhookRequest, WebhookResponse } from '../../core/connector.js';
import { RefusalReporter } from '../../core/refusals.js';

/** Hands a webhook to its connector's process, which alone holds the signing secret; or says why it cannot. */
export type WebhookForwarder = (connector: string, request: WebhookRequest) => Promise<WebhookResponse | { missing: string }>;

const MAX_WEBHOOK_BYTES = 1024 * 1024;
/**
 * Webhook bodies being read or handed over at once, all routes together. Each is held here and again, base64, on its
 * way over IPC until its connector answers; anyone who can reach the port can send them, signed or not, and 400
 * bodies of 1 MiB took this process (the one holding the master key) from 116 MB to 1.7 GB. Platforms' own
 * updates are kilobytes, and a 503 is something they retry.
 */
export const MAX_IN_FLIGHT_BYTES = 16 * MAX_WEBHOOK_BYTES;
const CONNECTOR_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * `POST /webhooks/<connector>`: the raw body and headers go over IPC unparsed, so the connector verifies the
 * platform's signature over the exact bytes. This process never sees a signing secret and never says yes itself.
 */
export function webhookRoutes(forward: WebhookForwarder, audit?: (entries: AuditInput[]) => Promise<void>): Hono {
  const app = new Hono();
  // Refused here, before any connector sees it: audited like the refusals the connectors make themselves.
  const refusals = new RefusalReporter(
    (_source, why, refusedSinceLast) => audit?.([{ kind: 'webhook.refused', actor: 'http', data: { why, refusedSinceLast } }]).catch(() => undefined),
    Date.now,
  );
  let inFlight = 0;
  app.post(
    '/webhooks/:connector',
    async (c, next) => {
      // Reserved before the body is read, as the sender declares it (a chunked body: as much as it may be).
      const declared = Number(c.req.header('content-length'));
      const bytes = Number.isSafeInteger(declared) && declared >= 0 && declared <= MAX_WEBHOOK_BYTES ? declared : MAX_WEBHOOK_BYTES;
      if (inFlight + bytes > MAX_IN_FLIGHT_BYTES) {
        refusals.refused('webhooks', `busy: ${MAX_IN_FLIGHT_BYTES} bytes of webhooks in flight`);
        return c.json({ error: 'busy' }, 503, { 'retry-after': '5', connection: 'close' });
      }
      inFlight += bytes;
      try {
        await next();
      } finally {
        inFlight -= bytes;
      }
    },
    bodyLimit({
      maxSize: MAX_WEBHOOK_BYTES,
      onError: (c) => {
        // One count for every route: the name in the path is the caller's to choose, and must not open new ones.
        const name = c.req.param('connector') ?? '';
        refusals.refused('webhooks', `payload over ${MAX_WEBHOOK_BYTES} bytes${CONNECTOR_NAME.test(name) ? ` (/webhooks/${name})` : ''}`);
        // The body is left unread: the connection cannot carry another request, and the client must be told so.
        return c.json({ error: 'payload too large' }, 413, { connection: 'close' });
      },
    }),
    async (c) => {
      const name = c.req.param('connector');
      if (!CONNECTOR_NAME.test(name)) return c.json({ error: 'unknown connector' }, 404);
      const headers: Record<string, string> = {};
      c.req.raw.headers.forEach((value, key) => (headers[key.toLowerCase()] = value));
      const body = Buffer.from(await c.req.arrayBuffer());
      const answer = await forward(name, { method: 'POST', path: c.req.path, headers, body });
      // Unavailable for now (not running, restarting, too slow): the platform retries a 503 later.
      if ('missing' in answer) return c.json({ error: `connector ${answer.missing}` }, 503, { 'retry-after': '5' });
      return new Response(answer.body ?? '', { status: answer.status, headers: answer.headers ?? {} });
    },
  );
  return app;
}
