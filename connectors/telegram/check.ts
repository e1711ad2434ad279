import type { Api } from 'grammy';
import type { ConnectorDeps } from '../../core/connector.js';
import { describe, isBadToken } from './errors.js';
import { CONFLICT_KEY, OFFSET_KEY, type ConflictState } from './poller.js';

type Verdict = { ok: boolean; what: string; detail: string };

/** A conflict the running poller recorded this recently is current (it re-records it on every retry). */
const CONFLICT_FRESH_MS = 5 * 60_000;

/**
 * Plain-words health for `doctor`, safe to run beside a running gateway: getMe and getWebhookInfo only. It never
 * calls getUpdates, which would itself end the running poller's long poll with a 409.
 */
export async function runChecks(
  api: Api,
  deps: Pick<ConnectorDeps, 'name' | 'store' | 'now'>,
  mode: 'polling' | 'webhook',
  webhookUrl: string | undefined,
): Promise<Verdict[]> {
  const out: Verdict[] = [];
  try {
    const me = await api.getMe();
    out.push({ ok: true, what: 'telegram token', detail: `authorized as @${me.username} (id ${me.id})` });
  } catch (error) {
    out.push({
      ok: false,
      what: 'telegram token',
      detail: isBadToken(error) ? `Telegram refused the token (${describe(error)}): ask @BotFather for the current one` : `cannot reach Telegram: ${describe(error)}`,
    });
    return out;
  }
  try {
    const info = await api.getWebhookInfo();
    const pending = `${info.pending_update_count} update(s) waiting`;
    const lastError = info.last_error_message ? `; last delivery error: ${info.last_error_message}` : '';
    if (mode === 'polling') {
      out.push(
        info.url
          ? { ok: false, what: 'telegram webhook', detail: `a webhook is set (${info.url}), so polling gets 409: another poller or a webhook is using this bot token. Remove it with deleteWebhook (keeping pending updates) or use mode: webhook` }
          : { ok: true, what: 'telegram webhook', detail: `none set; polling receives (${pending})` },
      );
    } else {
      out.push(
        info.url === webhookUrl
          ? { ok: true, what: 'telegram webhook', detail: `set to ${info.url} (${pending}${lastError})` }
          : { ok: false, what: 'telegram webhook', detail: `Telegram delivers to ${info.url || 'nowhere'}, not to ${webhookUrl}: another gateway may be using this bot token; start this one to set it` },
      );
    }
  } catch (error) {
    out.push({ ok: false, what: 'telegram webhook', detail: `getWebhookInfo failed: ${describe(error)}` });
  }
  if (mode === 'polling') {
    const conflict = (await deps.store.getConnectorState(deps.name, CONFLICT_KEY)) as ConflictState | null | undefined;
    if (conflict && deps.now() - Date.parse(conflict.lastAt) < CONFLICT_FRESH_MS) {
      out.push({ ok: false, what: 'telegram polling', detail: `${conflict.reason} (since ${conflict.since}, last seen ${conflict.lastAt})` });
    } else {
      const offset = await deps.store.getConnectorState(deps.name, OFFSET_KEY);
      out.push({ ok: true, what: 'telegram polling', detail: offset === undefined ? 'no update received yet' : `no conflict; resumes at update ${String(offset)}` });
    }
  }
  return out;
}
