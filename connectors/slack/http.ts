import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ConnectorLog, WebhookRequest, WebhookResponse } from '../../core/connector.js';
import { RefusalReporter } from '../../core/refusals.js';
import { urlVerificationSchema } from './parse.js';
import type { Inbound } from './inbound.js';

/** Slack's replay window: a request signed more than five minutes ago (or ahead) is refused. */
export const MAX_SKEW_SECONDS = 5 * 60;
const MAX_BODY_BYTES = 1024 * 1024;
/** Slack gives up on a request after 3 s and retries it; answer before that, whatever happens. */
const ANSWER_WITHIN_MS = 2_500;

export interface WebhookOptions {
  signingSecret: string | undefined;
  inbound: Inbound;
  log: ConnectorLog;
  now(): number;
}

/** `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` under the signing secret, compared in constant time. */
export function verifySignature(secret: string, timestamp: string, body: Buffer, signature: string): boolean {
  const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const json = (status: number, body: unknown, extra: Record<string, string> = {}): WebhookResponse => ({
  status,
  headers: { 'content-type': 'application/json', ...extra },
  body: JSON.stringify(body),
});
/** Tells Slack not to retry a request that can never succeed. */
const NO_RETRY = { 'x-slack-no-retry': '1' };

/**
 * The HTTP Events API: fail closed without a signing secret, verify the signature and its age over the raw bytes,
 * answer url_verification, publish an event before answering 200, and answer a retry of an event already published
 * at once. Refused requests are audited and logged at most once a minute, with how many were refused since:
 * anyone on the internet can send them, and a flood of forgeries must not become a flood of audit entries.
 */
export function createWebhookHandler(o: WebhookOptions): (request: WebhookRequest) => Promise<WebhookResponse> {
  const published = new Map<string, true>();
  const refusals = new RefusalReporter((_source, why, refusedSinceLast) => {
    o.log.warn({ why, refused: refusedSinceLast }, 'slack webhook refused');
    return o.inbound.audit('webhook.refused', { why, refusedSinceLast }).catch(() => undefined);
  }, o.now);
  const refuse = (why: string): WebhookResponse => {
    refusals.refused('webhook', why);
    return json(401, { error: 'unauthorized' });
  };
  const remember = (eventId: string) => {
    published.set(eventId, true);
    if (published.size > 2_000) published.delete(published.keys().next().value!);
  };

  return async function slackWebhook(request) {
    if (request.method !== 'POST') return json(405, { error: 'method not allowed' });
    if (!o.signingSecret) return refuse('no signing secret configured (connectors.slack.signingSecret)');
    if (request.body.length > MAX_BODY_BYTES) return json(413, { error: 'payload too large' }, NO_RETRY);
    const timestamp = request.headers['x-slack-request-timestamp'] ?? '';
    const signature = request.headers['x-slack-signature'] ?? '';
    if (!/^\d{1,12}$/.test(timestamp)) return refuse('missing timestamp');
    if (Math.abs(o.now() / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) return refuse('stale timestamp');
    if (!verifySignature(o.signingSecret, timestamp, request.body, signature)) return refuse('bad signature');

    let payload: unknown;
    try {
      payload = JSON.parse(request.body.toString('utf8'));
    } catch {
      await o.inbound.audit('inbound.rejected', { issues: ['(root): not valid JSON'] });
      return json(400, { error: 'invalid JSON' }, NO_RETRY);
    }
    const type = typeof payload === 'object' && payload !== null ? (payload as { type?: unknown }).type : undefined;
    if (type === 'url_verification') {
      const challenge = urlVerificationSchema.safeParse(payload);
      return challenge.success ? json(200, { challenge: challenge.data.challenge }) : json(400, { error: 'bad challenge' }, NO_RETRY);
    }
    if (type !== 'event_callback') {
      await o.inbound.audit('inbound.unsupported', { reason: `payload type ${String(type).slice(0, 64)}` });
      return json(200, { ok: true });
    }
    const eventId = (payload as { event_id?: unknown }).event_id;
    if (request.headers['x-slack-retry-num'] !== undefined && typeof eventId === 'string' && published.has(eventId)) {
      return json(200, { ok: true, duplicate: true });
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ANSWER_WITHIN_MS)));
    try {
      const outcome = await Promise.race([o.inbound.handle(payload), late]);
      // Not enqueued in time: Slack retries, and if the enqueue did finish after all, dedupe absorbs the retry.
      if (outcome === 'late') return json(503, { error: 'busy' });
      if (typeof eventId === 'string') remember(eventId);
      return json(200, { ok: true });
    } catch (error) {
      o.log.error({ error: (error as Error).message }, 'slack webhook: could not enqueue');
      return json(500, { error: 'not enqueued' });
    } finally {
      clearTimeout(timer);
    }
  };
}
