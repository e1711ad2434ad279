import { createLogger } from '../logger.js';
import { openRuntime, type GlobalOptions } from '../runtime.js';
import { startWorker } from '../worker.js';
import { terminated } from './start.js';

/** `monkeyclaw worker`: one session worker process, until SIGTERM or its supervisor goes away. */
export async function worker(options: GlobalOptions): Promise<number> {
  const rt = await openRuntime(options, 'worker');
  const log = createLogger('worker', 'info', rt.redactor);
  const running = await startWorker(rt, log);
  const orphaned = new Promise<string>((resolve) => process.once('disconnect', () => resolve('supervisor gone')));
  const why = await Promise.race([terminated(), orphaned]);
  log.info({ why }, 'worker stopping');
  await running.stop();
  await rt.close();
  return 0;
}
