import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, migrate } from '../../core/db.js';
import { EmbeddedDriver } from '../../queues/embedded.js';
import { queueContract } from '../contracts/queue.js';

queueContract('embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mc-q-'));
  const file = join(dir, 'monkeyclaw.db');
  const db = openDb(file);
  migrate(db);
  db.close();
  return {
    open: async () => new EmbeddedDriver({ file, leaseMs: 2_000 }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
