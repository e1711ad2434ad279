import { Hono } from 'hono';
import type { AuditInput } from '../../core/audit.js';
import type { WebhookRequest, WebhookResponse } from '../../core/connector.js';
import { RefusalReporter } from '../../core/refusals.js';
import { ByteBudget, readBody } from './webhook-body.js';

/** Hands a webhook to its connector's process, which alone holds the signing secret; or says why it cannot. */
export type WebhookForwarder = (connector: string, request: WebhookRequest) => Promise<WebhookResponse | { missing: string }>;

const MAX_WEBHOOK_BYTES = 1024 * 1024;
/**
 * Webhook bodies held at once, all routes together: each is held here and again, base64, on its way over IPC until
 * its connector answers, and 400 unsigned bodies of 1 MiB took this process from 116 MB to 1.7 GB. Platforms' own
 * updates are kilobytes, and a 503 is something they retry.
 */
export const MAX_IN_FLIGHT_BYTES = 16 * MAX_WEBHOOK_BYTES;
/** A platform sends its update at once; a body still arriving after this is someone holding the budget. */
const READ_DEADLINE_MS = 10_000;
const CONNECTOR_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * `POST /webhooks/<connector>`: the raw body and headers go over IPC unparsed, so the connector verifies the
 * platform's signature over the exact bytes. This process never sees a signing secret and never says yes itself.
 */
export function webhookRoutes(forward: WebhookForwarder, audit?: (entries: AuditInput[]) => Promise<void>, { readDeadlineMs = READ_DEADLINE_MS } = {}): Hono {
  const app = new Hono();
  // Refused here, before any connector sees it: audited like the refusals the connectors make themselves.
  const refusals = new RefusalReporter(
    (_source, why, refusedSinceLast) => audit?.([{ kind: 'webhook.refused', actor: 'http', data: { why, refusedSinceLast } }]).catch(() => undefined),
    Date.now,
  );
  const budget = new ByteBudget(MAX_IN_FLIGHT_BYTES);
  const REFUSED = {
    'too large': [413, `payload over ${MAX_WEBHOOK_BYTES} bytes`, 'payload too large'],
    busy: [503, `busy: ${MAX_IN_FLIGHT_BYTES} bytes of webhooks in flight`, 'busy'],
    slow: [408, `body not all there within ${readDeadlineMs / 1000} s`, 'request timeout'],
    // Nobody is there to read it; said for the audit.
    gone: [400, 'sender went away mid-body', 'incomplete body'],
  } as const;
  app.post('/webhooks/:connector', async (c) => {
    const name = c.req.param('connector');
    // One count for every route: the name in the path is the caller's to choose, and must not open new ones.
    const route = CONNECTOR_NAME.test(name) ? ` (/webhooks/${name})` : '';
    const refuse = (why: keyof typeof REFUSED) => {
      const [status, reason, error] = REFUSED[why];
      refusals.refused('webhooks', `${reason}${route}`);
      // The body is left unread: the connection cannot carry another request, and the client must be told so.
      return c.json({ error }, status, { connection: 'close', ...(status === 503 ? { 'retry-after': '5' } : {}) });
    };
    const declared = Number(c.req.header('content-length'));
    if (Number.isFinite(declared) && declared > MAX_WEBHOOK_BYTES) return refuse('too large');
    if (!CONNECTOR_NAME.test(name)) return c.json({ error: 'unknown connector' }, 404);
    const read = await readBody(c.req.raw, budget, { maxBytes: MAX_WEBHOOK_BYTES, deadlineMs: readDeadlineMs });
    if (!read.ok) return refuse(read.why);
    try {
      const headers: Record<string, string> = {};
      c.req.raw.headers.forEach((value, key) => (headers[key.toLowerCase()] = value));
      const answer = await forward(name, { method: 'POST', path: c.req.path, headers, body: read.body });
      // Unavailable for now (not running, restarting, too slow): the platform retries a 503 later.
      if ('missing' in answer) return c.json({ error: `connector ${answer.missing}` }, 503, { 'retry-after': '5' });
      return new Response(answer.body ?? '', { status: answer.status, headers: answer.headers ?? {} });
    } finally {
      read.release();
    }
  });
  return app;
}
