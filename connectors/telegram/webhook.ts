import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConnectorLog, WebhookRequest, WebhookResponse } from '../../core/connector.js';
import { RefusalReporter } from '../../core/refusals.js';
import { MAX_UPDATE_BYTES } from './parse.js';

export const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/** Constant-time comparison of two strings of any lengths (hashing first makes the lengths equal). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const answer = (status: number, body?: string): WebhookResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: body ?? (status === 200 ? '{}' : JSON.stringify({ error: status === 401 ? 'unauthorized' : 'rejected' })),
});

export interface WebhookDeps {
  /** The configured secret; without one every request is refused (fail closed, unlike grammy's webhookCallback). */
  secret: string | undefined;
  log: ConnectorLog;
  /** False until getMe answered at start: updates cannot be normalized before the bot's identity is known. */
  ready(): boolean;
  handle(updates: unknown[], sizes: number[]): Promise<number | undefined>;
  audit(kind: string, data: Record<string, unknown>): Promise<void>;
  now?(): number;
}

/**
 * POST /webhooks/telegram, handed over by the HTTP server. Telegram retries anything but a 2xx, so: a bad or missing
 * secret is 401 and nothing is read; a body that is not an update is 400 (audited); an update is answered 200 only
 * after it was durably published, and a failure to publish is 500 so Telegram delivers it again.
 */
export function createWebhookHandler(deps: WebhookDeps) {
  // Forgeries are audited as Slack's are: at most once a minute, with how many were refused since (anyone can send them).
  const refusals = new RefusalReporter((_source, why, refusedSinceLast) => {
    deps.log.warn({ why, refused: refusedSinceLast }, 'telegram webhook refused: bad secret token');
    return deps.audit('webhook.refused', { why, refusedSinceLast }).catch(() => undefined);
  }, deps.now ?? Date.now);
  return async function handleWebhook(request: WebhookRequest): Promise<WebhookResponse> {
    if (request.method !== 'POST') return { status: 405, headers: { allow: 'POST' } };
    const given = request.headers[SECRET_HEADER];
    if (deps.secret === undefined || given === undefined || !sameSecret(given, deps.secret)) {
      refusals.refused('webhook', deps.secret === undefined ? 'no secret token configured' : given === undefined ? 'secret token missing' : 'secret token wrong');
      return answer(401);
    }
    if (!deps.ready()) return answer(503);
    if (request.body.length > MAX_UPDATE_BYTES) {
      await deps.audit('inbound.rejected', { issues: [`(root): larger than ${MAX_UPDATE_BYTES} bytes`], via: 'webhook' });
      return answer(413);
    }
    let update: unknown;
    try {
      update = JSON.parse(request.body.toString('utf8'));
    } catch {
      await deps.audit('inbound.rejected', { issues: ['(root): not valid JSON'], via: 'webhook' });
      return answer(400);
    }
    try {
      const next = await deps.handle([update], [request.body.length]);
      // An object without an update_id is not an update at all (already audited as rejected).
      return next === undefined ? answer(400) : answer(200);
    } catch (error) {
      deps.log.error({ error: (error as Error).message }, 'telegram webhook: could not enqueue; Telegram will retry');
      return answer(500);
    }
  };
}
