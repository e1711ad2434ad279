import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { awaitQuiet, machine, processCpuSeconds } from './machine.js';
import { startChild, within, type BenchChild } from './proc.js';
import { startRedis, type BenchRedis } from './redis.js';
import { buildReport, printReport, type PhaseResults } from './report.js';

/**
 * `npm run bench`: every figure in one run, on the production process layout (a connector-side process, a worker
 * process, Redis or the SQLite file between them). Phases run one after another so none steals the other's CPU.
 * Env: BENCH_ONLY=phase,… runs a subset (rawBullmq, rawSqlite, e2eBullmq, e2eEmbedded, rawLatencyBullmq,
 * latencyBullmq, rawLatencySqlite, latencyEmbedded); BENCH_PROFILE=DIR adds --cpu-prof to the worker/hop processes;
 * BENCH_KEEP=1 keeps the data dirs; BENCH_TRACE=FILE writes per-message times from the latency connector.
 */
const here = fileURLToPath(new URL('.', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const only = process.env.BENCH_ONLY?.split(',');
const profileDir = process.env.BENCH_PROFILE;
const PHASE_LIMIT_MS = 120_000;
/** Longest wait for other processes to leave the CPUs before a phase (BENCH_QUIET_MS; 0 skips the wait). */
const QUIET_MAX_MS = Number(process.env.BENCH_QUIET_MS ?? 5_000);

/** Raised limits: the default 20 msgs/min per sender would halt the bench after 20 messages. */
const RATE_LIMIT = { plug: 'rate-limit', perSender: 10_000_000, perConversation: 10_000_000, perWorkspace: 10_000_000 };
const PIPELINE = [RATE_LIMIT, 'access', 'group-gate', 'redact', 'guard'];

const SIZES = {
  raw: { warmup: 1_000, total: 20_000, window: 2_000, batch: 100, concurrency: 64, partitions: 64, timeoutMs: 45_000 },
  e2e: { conversations: 64, outboundConcurrency: 16, warmup: 500, total: 6_000, window: 640, batch: 64, timeoutMs: 45_000 },
  latency: { conversations: 64, outboundConcurrency: 16, rate: 100, warmupS: 2, measureS: 10, drainMs: 5_000 },
};

/** Children get a clean queue choice: REDIS_URL only when the phase is on BullMQ, never an inherited one. */
function childEnv(redisUrl?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MONKEYCLAW_LOG_LEVEL: 'info' };
  delete env.REDIS_URL;
  delete env.MONKEYCLAW_DATA_DIR;
  if (redisUrl) env.REDIS_URL = redisUrl;
  return env;
}

const prof = (name: string): string[] => (profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`] : []);

function freshDir(name: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `monkeyclaw-bench-${name}-`));
  return { dir, remove: () => (process.env.BENCH_KEEP ? undefined : rmSync(dir, { recursive: true, force: true })) };
}

/**
 * Runs a load process against a running server process (hop or worker) and adds who used how much CPU meanwhile:
 * a server near `wall` seconds of CPU is saturated; far below it, it is waiting (on locks, wake-ups, round trips).
 */
async function withCpu(server: BenchChild, redis: BenchRedis | undefined, load: () => BenchChild, what: string): Promise<unknown> {
  const t0 = Date.now();
  const [s0, r0] = [processCpuSeconds(server.pid), await redis?.cpuSeconds()];
  const child = load();
  try {
    const result = (await within(child.result, PHASE_LIMIT_MS, what)) as { cpuSeconds?: number };
    const [s1, r1] = [processCpuSeconds(server.pid), await redis?.cpuSeconds()];
    const diff = (a?: number, b?: number) => (a !== undefined && b !== undefined ? Math.round((b - a) * 100) / 100 : null);
    const cpu = { wall_s: (Date.now() - t0) / 1000, server_s: diff(s0, s1), load_s: result.cpuSeconds ?? null, redis_s: diff(r0, r1) };
    return { ...result, cpu };
  } finally {
    await child.stop(5_000);
  }
}

/** A hop process plus a producer process; the producer reports (a rate, or with `latency` set, latencies). */
async function rawPhase(kind: 'raw-bullmq' | 'raw-sqlite', extra: Record<string, unknown>, env: NodeJS.ProcessEnv, redis?: BenchRedis): Promise<unknown> {
  const params = JSON.stringify({ ...SIZES.raw, ...extra });
  const script = join(here, `${kind}.js`);
  const name = extra.latency ? `${kind}-latency` : kind;
  const hop = startChild([...prof(`${name}-hop`), script, 'hop', params], { env, label: `${kind} hop` });
  try {
    await within(hop.ready, 15_000, `${kind} hop start`);
    const producer = () => startChild([...prof(`${name}-producer`), script, 'producer', params], { env, label: `${kind} producer` });
    return await withCpu(hop, redis, producer, kind);
  } finally {
    await hop.stop();
  }
}

/** A real `monkeyclaw worker` process plus the loopback connector process, on a fresh data dir. */
async function e2ePhase(driver: 'bullmq' | 'embedded', mode: 'throughput' | 'latency', redis?: BenchRedis): Promise<unknown> {
  const tmp = freshDir(`${driver}-${mode}`);
  try {
    const dataDir = join(tmp.dir, 'data');
    const config = join(tmp.dir, 'bench.config.json');
    const queue = driver === 'bullmq' ? { queue: { driver: 'bullmq', redisUrl: 'env:REDIS_URL' } } : {};
    writeFileSync(config, JSON.stringify({ ...queue, assistants: { default: { backend: 'echo', pipelines: { inbound: PIPELINE } } } }, null, 2));
    const env = childEnv(driver === 'bullmq' ? redis!.url : undefined);
    const worker = startChild([...prof(`worker-${driver}-${mode}`), CLI, 'worker', '--data-dir', dataDir, '--config', config], {
      env,
      cwd: tmp.dir,
      readyOn: /"msg":"worker started"/,
      label: 'monkeyclaw worker',
    });
    try {
      await within(worker.ready, 20_000, 'worker start');
      const sizes = mode === 'throughput' ? SIZES.e2e : SIZES.latency;
      const params = JSON.stringify({ ...sizes, dataDir, config, mode });
      const load = () => startChild([...prof(`load-${driver}-${mode}`), join(here, 'loopback-load.js'), params], { env, cwd: tmp.dir, label: 'loopback connector' });
      return await withCpu(worker, driver === 'bullmq' ? redis : undefined, load, `e2e ${driver} ${mode}`);
    } finally {
      await worker.stop();
    }
  } finally {
    tmp.remove();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const host = machine();
  const results: PhaseResults = {};
  const errors: Record<string, string> = {};
  const conditions: Record<string, unknown> = {};
  const redis = await startRedis();
  const phase = async (name: keyof PhaseResults, run: () => Promise<unknown>) => {
    if (only && !only.includes(name)) return;
    try {
      await redis.flush();
      conditions[name] = await awaitQuiet(0.2, QUIET_MAX_MS);
      process.stderr.write(`bench: ${name}… ${JSON.stringify(conditions[name])}\n`);
      results[name] = (await run()) as never;
    } catch (error) {
      errors[name] = (error as Error).message;
      process.stderr.write(`bench: ${name} failed: ${(error as Error).message}\n`);
    }
  };
  const rawBullmq = (extra = {}) => rawPhase('raw-bullmq', { url: redis.url, ...extra }, childEnv(), redis);
  const rawSqlite = async (extra = {}) => {
    const tmp = freshDir('raw-sqlite');
    try {
      return await rawPhase('raw-sqlite', { dataDir: tmp.dir, ...extra }, childEnv());
    } finally {
      tmp.remove();
    }
  };
  // The raw queue's latency at the gateway's offered rate: how much of the gateway's latency the host and the queue
  // already take. Each runs just before the gateway's, so both meet the same host.
  const { rate, warmupS, measureS, drainMs } = SIZES.latency;
  const latency = { latency: { rate, warmupS, measureS, drainMs } };
  try {
    await phase('rawBullmq', () => rawBullmq());
    await phase('rawSqlite', () => rawSqlite());
    await phase('e2eBullmq', () => e2ePhase('bullmq', 'throughput', redis));
    await phase('e2eEmbedded', () => e2ePhase('embedded', 'throughput'));
    await phase('rawLatencyBullmq', () => rawBullmq(latency));
    await phase('latencyBullmq', () => e2ePhase('bullmq', 'latency', redis));
    await phase('rawLatencySqlite', () => rawSqlite(latency));
    await phase('latencyEmbedded', () => e2ePhase('embedded', 'latency'));
  } finally {
    await redis.stop();
  }
  const report = buildReport(results, errors, { machine: host, sizes: SIZES, pipeline: PIPELINE, conditions, seconds: (Date.now() - started) / 1000 });
  printReport(report);
  const out = join(here, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nwritten: bench/results/latest.json (${report.bench_seconds} s)\n`);
}

// Interrupted: exit through process.exit so the 'exit' hooks kill our children and redis-server by pid.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
// A benchmark reports, it does not assert: missed targets still exit 0. Only a broken bench exits non-zero.
await main();
process.exit(0);
