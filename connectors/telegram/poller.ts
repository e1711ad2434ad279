import { setTimeout as sleep } from 'node:timers/promises';
import type { Api } from 'grammy';
import type { ConnectorDeps } from '../../core/connector.js';
import { conflictInWords, describe, isBadToken, isConflict, retryAfterSeconds } from './errors.js';
import { MESSAGE_UPDATES } from './schema.js';
import { grammySignal } from './signal.js';

export interface PollerOptions {
  /** Long-poll length Telegram holds each getUpdates open. */
  timeoutSeconds: number;
  /** Wait after a 409 before asking again: another instance holds the token, hammering it helps nobody. */
  conflictBackoffMs: number;
  /** First wait after another failure; doubles up to `maxBackoffMs`. */
  errorBackoffMs: number;
  maxBackoffMs: number;
}

export const OFFSET_KEY = 'offset';
/** `{ since, lastAt, reason }` while getUpdates answers 409, null once it stopped; read by `check()` in doctor. */
export const CONFLICT_KEY = 'conflict';

export interface ConflictState {
  since: string;
  lastAt: string;
  reason: string;
}

type PollerDeps = Pick<ConnectorDeps, 'name' | 'store' | 'log' | 'now'>;

/**
 * The getUpdates loop, written out rather than bot.start() because durability needs it: the offset is stored (and
 * with the next request confirmed to Telegram) only after the batch was published, so an update is never confirmed
 * before it is durably enqueued, and a restart resumes from the stored offset without dropping pending updates.
 */
export function startPoller(api: Api, deps: PollerDeps, handle: (updates: unknown[]) => Promise<number | undefined>, options: PollerOptions) {
  const actor = `connector:${deps.name}`;
  const abort = new AbortController();
  let conflict: ConflictState | undefined;
  let failures = 0;

  const pause = (ms: number) => sleep(ms, undefined, { signal: abort.signal }).catch(() => undefined);
  const backoff = () => Math.min(options.maxBackoffMs, options.errorBackoffMs * 2 ** Math.min(failures++, 16));

  async function onConflict(reason: string): Promise<void> {
    const at = new Date(deps.now()).toISOString();
    if (!conflict) {
      conflict = { since: at, lastAt: at, reason };
      deps.log.error({ retryInMs: options.conflictBackoffMs }, `telegram: ${reason}`);
      await deps.store.appendAudit([{ kind: 'connector.conflict', actor, data: { reason } }]);
    } else {
      conflict = { ...conflict, lastAt: at, reason };
      deps.log.warn({ since: conflict.since }, 'telegram: still in conflict over the bot token (409)');
    }
    await deps.store.setConnectorState(deps.name, CONFLICT_KEY, conflict);
  }

  async function conflictOver(): Promise<void> {
    if (!conflict) return;
    deps.log.info({ since: conflict.since }, 'telegram: getUpdates answers again; the conflict is over');
    await deps.store.appendAudit([{ kind: 'connector.conflict_resolved', actor, data: { since: conflict.since } }]);
    await deps.store.setConnectorState(deps.name, CONFLICT_KEY, null);
    conflict = undefined;
  }

  async function run(): Promise<void> {
    const stored = await deps.store.getConnectorState(deps.name, OFFSET_KEY);
    let offset = Number.isSafeInteger(stored) ? (stored as number) : undefined;
    deps.log.info({ offset: offset ?? 'none' }, 'telegram: polling for updates');
    while (!abort.signal.aborted) {
      let updates: unknown[];
      try {
        const answer: unknown = await api.getUpdates(
          { ...(offset !== undefined ? { offset } : {}), timeout: options.timeoutSeconds, limit: 100, allowed_updates: [...MESSAGE_UPDATES] },
          grammySignal(abort.signal),
        );
        if (!Array.isArray(answer)) throw new Error('getUpdates answered something other than a list');
        updates = answer;
      } catch (error) {
        if (abort.signal.aborted) break;
        if (isConflict(error)) {
          await onConflict(conflictInWords(error)).catch((e: unknown) => deps.log.error({ error: describe(e) }, 'cannot record the conflict'));
          await pause(options.conflictBackoffMs);
        } else {
          const bad = isBadToken(error);
          deps.log.error({ error: describe(error) }, bad ? 'telegram refused the bot token; check connectors.telegram.token' : 'telegram: getUpdates failed');
          // A 429 says how long to wait (grammY's auto-retry hands on waits over 2 s): asking sooner only extends it.
          const after = retryAfterSeconds(error);
          await pause(bad ? options.maxBackoffMs : Math.max((after ?? 0) * 1000, backoff()));
        }
        continue;
      }
      // Which step failed says what happens next: unpublished updates are fetched again, published ones are not lost.
      let published = false;
      try {
        await conflictOver();
        if (updates.length === 0) {
          failures = 0;
          continue;
        }
        const next = await handle(updates);
        published = true;
        // Only a batch that went through ends the backoff: one that cannot be enqueued (a full disk) comes back with
        // every poll, and was retried, logged and shown as "typing…" once a second for as long as it lasted.
        failures = 0;
        if (next === undefined) {
          // Not one update had a usable update_id: nothing can be confirmed, so do not spin on the same batch.
          deps.log.error({ count: updates.length }, 'telegram: updates without a valid update_id; waiting');
          await pause(backoff());
        } else if (offset === undefined || next !== offset) {
          // A whole batch below the offset: Telegram numbers afresh (a random start after a week without updates,
          // another Bot API server behind apiRoot) and answers an offset it never gave from its own first update.
          // Keeping ours would confirm nothing and fetch the same 100 for ever; redelivered ones are deduped.
          if (offset !== undefined && next < offset) deps.log.warn({ stored: offset, now: next }, 'telegram: update ids restarted below the stored offset; following Telegram');
          offset = next;
          await deps.store.setConnectorState(deps.name, OFFSET_KEY, offset);
        }
      } catch (error) {
        // Unpublished: the offset stays, so Telegram hands the same updates back. Published: only a restart before the
        // next save would fetch them again, and they are deduped then.
        const what = published ? 'could not save the offset; the updates are enqueued (deduped if fetched again after a restart)' : 'could not enqueue updates; they will be fetched again';
        deps.log.error({ error: describe(error) }, `telegram: ${what}`);
        await pause(backoff());
      }
    }
  }

  const loop = run().catch((error: unknown) => deps.log.error({ error: describe(error) }, 'telegram poller stopped'));
  return {
    /** Ends the long poll at once; a batch being published is finished first. */
    async stop(): Promise<void> {
      abort.abort();
      await loop;
    },
  };
}
