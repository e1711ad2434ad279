import type { Job } from './queue.js';
import type { Store } from './store.js';

/**
 * The `onDead` of a consumer: every dead letter on record, by the process that gave it up, whatever queue it was on
 * (a reply the platform kept refusing, a job that was not this gateway's). `log` says it too, where there is a log.
 */
export const recordDeadLetters =
  (store: Pick<Store, 'appendAudit'>, actor: string, log?: (job: Job, error: string) => void) =>
  async (job: Job, error: string): Promise<void> => {
    log?.(job, error);
    await store.appendAudit([{ kind: 'queue.dead_lettered', actor, subject: job.id, data: { queue: job.queue, error: error.slice(0, 500) } }]);
  };
