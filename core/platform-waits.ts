import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectorDeps } from './connector.js';
import { refused } from './outbound.js';
import { RetryLaterError } from './queue.js';

const PREFIX = 'wait:';
/** Waits up to this long are waited where they are met; longer ones give the consumer slot up (see `ready`). */
const INLINE_WAIT_MS = 2_000;
/** Beyond Node's timers (2^31 ms fire at once) and beyond any rate limit a platform means. */
const MAX_HOLD_S = 24 * 3_600;

/**
 * A platform's "try again in N seconds" (a 429's Retry-After), per place (a chat, a channel), kept in connector
 * state. SDKs wait it out in memory; a restart during the wait sent at once and met another 429, which platforms
 * count against the bot. Whichever process was told, the next send to that place waits for what is left.
 */
export class PlatformWaits {
  private readonly until = new Map<string, number>();
  private readonly loaded: Promise<void>;

  constructor(private readonly deps: Pick<ConnectorDeps, 'store' | 'name' | 'now' | 'log'>) {
    this.loaded = deps.store.listConnectorState(deps.name, PREFIX).then(
      async (rows) => {
        const over: string[] = [];
        for (const { key, value } of rows) {
          if (typeof value === 'number' && value > deps.now()) this.until.set(key.slice(PREFIX.length), value);
          else over.push(key);
        }
        // One row per place that ever got a 429 would pile up: each start clears the waits that are over.
        await deps.store.deleteConnectorState(deps.name, over).catch((error: Error) => deps.log.warn({ error: error.message }, 'could not clear waits that are over'));
      },
      (error: Error) => deps.log.warn({ error: error.message }, 'could not read the waits the platform asked for'),
    );
  }

  /** Waits until `place` may be sent to again. */
  async wait(place: string, signal?: AbortSignal): Promise<void> {
    const left = await this.left(place);
    if (left > 0) await sleep(left, undefined, signal ? { signal } : {});
  }

  /**
   * For a send whose job can wait without its consumer slot: a wait of more than a moment is thrown as a
   * RetryLaterError, so the job waits it out while other places' sends go on; a shorter one is waited here. Nothing
   * was sent, so it is a refusal (the send's intent is withdrawn, its retry not audited as resent).
   */
  async ready(place: string, signal?: AbortSignal): Promise<void> {
    const left = await this.left(place);
    if (left > INLINE_WAIT_MS) throw refused(new RetryLaterError(left, `the platform asked for quiet here for ${Math.ceil(left / 1000)} s more`));
    await this.wait(place, signal);
  }

  /** Milliseconds of quiet still owed to `place`; 0 or less when none. */
  private async left(place: string): Promise<number> {
    await this.loaded;
    return (this.until.get(place) ?? 0) - this.deps.now();
  }

  /** The platform asked for `seconds` of quiet at `place` (at most a day: a larger figure is a fault, not a plan). */
  async hold(place: string, seconds: number): Promise<void> {
    if (!(seconds > 0)) return;
    // After the start-up clearing, which could otherwise delete this new wait's row.
    await this.loaded;
    const at = this.deps.now() + Math.min(seconds, MAX_HOLD_S) * 1000;
    // A shorter wait told later (another route's bucket at the same place) does not cut a longer one short.
    if (at <= (this.until.get(place) ?? 0)) return;
    this.until.set(place, at);
    if (this.until.size > 10_000) this.until.delete(this.until.keys().next().value!);
    await this.deps.store
      .setConnectorState(this.deps.name, `${PREFIX}${place}`, at)
      .catch((error: Error) => this.deps.log.warn({ error: error.message }, 'could not keep a wait the platform asked for'));
  }
}
