import { setTimeout as sleep } from 'node:timers/promises';
import type { Transformer } from 'grammy';
import type { ConnectorDeps } from '../../core/connector.js';

const PREFIX = 'wait:';

/**
 * Telegram's "retry after N seconds" (429) for a chat, kept in connector state. auto-retry waits it out in memory;
 * a restart during the wait sent at once and met another 429, which Telegram counts against the bot. A request to
 * a chat first waits for what is left of that chat's wait, whichever process was told it.
 */
export function floodWait(deps: Pick<ConnectorDeps, 'store' | 'name' | 'now' | 'log'>): Transformer {
  const until = new Map<string, number>();
  const loaded = deps.store.listConnectorState(deps.name, PREFIX).then(
    (rows) => rows.forEach(({ key, value }) => typeof value === 'number' && value > deps.now() && until.set(key.slice(PREFIX.length), value)),
    (error: Error) => deps.log.warn({ error: error.message }, 'telegram: could not read the waits Telegram asked for'),
  );
  return async (prev, method, payload, signal) => {
    const chat = payload && typeof payload === 'object' && 'chat_id' in payload ? String(payload.chat_id) : undefined;
    if (chat === undefined) return prev(method, payload, signal);
    await loaded;
    const left = (until.get(chat) ?? 0) - deps.now();
    // grammY declares an AbortSignal type of its own; at run time it is Node's.
    if (left > 0) await sleep(left, undefined, signal ? { signal: signal as unknown as AbortSignal } : {});
    const result = await prev(method, payload, signal);
    const retryAfter = !result.ok && result.error_code === 429 ? result.parameters?.retry_after : undefined;
    if (typeof retryAfter === 'number' && retryAfter > 0) {
      const at = deps.now() + retryAfter * 1000;
      until.set(chat, at);
      await deps.store.setConnectorState(deps.name, `${PREFIX}${chat}`, at).catch((error: Error) => deps.log.warn({ error: error.message }, 'telegram: could not keep a wait'));
    }
    return result;
  };
}
