import { SqliteStore } from '../../core/sqlite/store.js';
import type { Config } from '../../core/config.js';
import { loadConfig } from '../config-file.js';
import { dbFile, resolveDataDir, type GlobalOptions } from '../runtime.js';
import { terminalLine } from '../terminal-text.js';

/**
 * Runs an administrative command against the data directory's store (migrated first) and closes it after. The
 * config is validated first, so a config error stops the command before it touches anything.
 */
export async function withStore<T>(options: GlobalOptions, work: (store: SqliteStore, config: Config) => Promise<T>): Promise<T> {
  const { config } = loadConfig(options.config);
  const store = new SqliteStore(dbFile(resolveDataDir(options)));
  try {
    await store.migrate();
    return await work(store, config);
  } finally {
    await store.close();
  }
}

export const out = (line: string): void => void process.stdout.write(`${line}\n`);
/**
 * Why a command exits 1, on stderr like every other CLI error: a script reading stdout gets results only. One line,
 * whatever the argument it names holds.
 */
export const failed = (line: string): void => void process.stderr.write(`monkeyclaw: ${terminalLine(line)}\n`);
