import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const INTERVAL_MS = 100;
/** How soon the thread tries again while a long log waits to be restarted. */
const RETRY_MS = 5;
/** A WAL this long (16 MB of 4 KB pages) is restarted from its beginning once it is all copied back. */
export const RESTART_FRAMES = 4_096;

/**
 * The thread's whole program. It has its own connection and copies the WAL back into the database file with
 * PASSIVE checkpoints, which never wait for (or block) readers and writers. Under steady writes a PASSIVE checkpoint
 * never finds the log idle, so SQLite never starts it over and it grows without end (hundreds of MB a minute at
 * full load): once a long log is all copied, a RESTART checkpoint, which gives up at once if a writer is busy,
 * makes the next writer start from the beginning of the file again. Until one succeeds the thread tries again every
 * few milliseconds, not every interval: a busy machine would otherwise let the log run on for many intervals.
 * It stops when told, or when the file is gone.
 */
const PROGRAM = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
let timer;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 0');
} catch { process.exit(0); }
const stop = () => { clearTimeout(timer); try { db.close(); } catch {} process.exit(0); };
// True when the log is long and still waits to be restarted.
function checkpoint() {
  const [r] = db.pragma('wal_checkpoint(PASSIVE)');
  if (!r || r.log < workerData.restartFrames) return false;
  if (r.checkpointed !== r.log) return true;
  const [s] = db.pragma('wal_checkpoint(RESTART)');
  return !s || s.busy !== 0;
}
function tick() {
  let pending = true;
  try { pending = checkpoint(); } catch (e) { if (!String(e.code).startsWith('SQLITE_BUSY')) return stop(); }
  timer = setTimeout(tick, pending ? workerData.retryMs : workerData.intervalMs);
}
timer = setTimeout(tick, workerData.intervalMs);
parentPort.on('message', stop);
`;

const running = new Map<string, { worker: Worker; refs: number }>();

/**
 * Moves WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever commit crosses
 * 1,000 pages, stalling that process for milliseconds while it copies pages; connections opened by `openDb` turn
 * it off, and one thread per file in each process does the copying in the background instead.
 */
export function retainCheckpointer(file: string): () => void {
  const entry = running.get(file);
  if (entry) entry.refs++;
  else {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(PROGRAM, { eval: true, workerData: { file, driver, intervalMs: INTERVAL_MS, retryMs: RETRY_MS, restartFrames: RESTART_FRAMES } });
    worker.unref();
    worker.on('error', () => running.delete(file));
    running.set(file, { worker, refs: 1 });
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const e = running.get(file);
    if (!e || --e.refs > 0) return;
    running.delete(file);
    e.worker.postMessage('stop');
  };
}
