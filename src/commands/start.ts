import { join } from 'node:path';
import { loadConfig } from '../config-file.js';
import { startHttpServer } from '../http.js';
import { acquireLock } from '../lock.js';
import { createLogger } from '../logger.js';
import { dbFile, resolveDataDir, type GlobalOptions } from '../runtime.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { Supervisor } from '../supervisor.js';
import { AVAILABLE_CONNECTORS } from './connector.js';

/** Resolves once SIGTERM or SIGINT arrives. */
export const terminated = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });

/** `monkeyclaw start`: migrate, then supervise workers and enabled connectors, and serve HTTP. Never prompts. */
export async function start(options: GlobalOptions): Promise<number> {
  const { config, source } = loadConfig(options.config);
  const dataDir = resolveDataDir(options);
  const release = acquireLock(join(dataDir, 'run', 'supervisor.lock'));
  const log = createLogger('supervisor');
  const store = new SqliteStore(dbFile(dataDir));
  try {
    const applied = await store.migrate();
    if (applied.length) log.info({ applied }, 'migrations applied');
    const http = await startHttpServer(config.server);
    const globalArgs = ['--data-dir', dataDir, ...(options.config ? ['--config', options.config] : [])];
    const supervisor = new Supervisor(store, log, globalArgs);
    supervisor.start({ name: 'worker', args: ['worker'] });
    for (const [name, c] of Object.entries(config.connectors)) {
      if (!c?.enabled) continue;
      if (AVAILABLE_CONNECTORS.has(name)) supervisor.start({ name: `connector:${name}`, args: ['connector', name] });
      else log.error({ connector: name }, 'connector enabled in config but not available in this build; not started');
    }
    await store.appendAudit([{ kind: 'gateway.started', actor: 'supervisor', data: { config: source, http: `${config.server.host}:${http.port}` } }]);
    log.info({ url: `http://${config.server.host}:${http.port}`, config: source, dataDir }, 'monkeyclaw started');
    const signal = await terminated();
    log.info({ signal }, 'shutting down');
    await http.close();
    await supervisor.stop();
    await store.appendAudit([{ kind: 'gateway.stopped', actor: 'supervisor', data: { signal } }]);
    return 0;
  } finally {
    await store.close();
    release();
  }
}
