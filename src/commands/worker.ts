import { createLogger } from '../logger.js';
import { openRuntime, type GlobalOptions } from '../runtime.js';
import { UsageError } from '../errors.js';
import { gatewayQueue } from '../gateway-queue.js';
import { startWorker } from '../worker.js';
import { terminated } from './start.js';

/** `monkeyclaw worker`: one session worker process, until SIGTERM or its supervisor goes away. */
export async function worker(options: GlobalOptions): Promise<number> {
  const rt = await openRuntime(options, 'worker');
  const log = createLogger('worker', 'info', rt.redactor);
  // A worker on other queues than the gateway's answers nothing the gateway's connectors send.
  const theirs = await gatewayQueue(rt);
  if (theirs !== undefined && theirs !== rt.queue.where) {
    await rt.close().catch(() => undefined);
    throw new UsageError(`the gateway running on this data dir uses ${theirs}, and this worker ${rt.queue.where}: give the worker the same queue settings (config, REDIS_URL) as start`);
  }
  const running = await startWorker(rt, log);
  const orphaned = new Promise<string>((resolve) => process.once('disconnect', () => resolve('supervisor gone')));
  const why = await Promise.race([terminated(), orphaned]);
  log.info({ why }, 'worker stopping');
  await running.stop();
  await rt.close();
  return 0;
}
