import type { OpenLoopResult, Throughput } from './drive.js';
import type { machine } from './machine.js';
import { round } from './stats.js';

/** CPU seconds used during a phase by the server process (hop/worker), the load process and Redis (run.ts). */
interface Cpu {
  wall_s: number;
  server_s: number | null;
  load_s: number | null;
  redis_s: number | null;
}

/** What each phase's load process reported (see raw-*.ts, loopback-load.ts), plus its CPU use. */
export interface PhaseResults {
  rawBullmq?: Throughput & { cpu?: Cpu };
  rawSqlite?: Throughput & { cpu?: Cpu };
  e2eBullmq?: Throughput & { cpu?: Cpu };
  e2eEmbedded?: Throughput & { cpu?: Cpu };
  latencyBullmq?: OpenLoopResult & { cpu?: Cpu };
  latencyEmbedded?: OpenLoopResult & { cpu?: Cpu };
  /** The raw two hops at the same offered rate: the latency baseline. */
  rawLatencyBullmq?: OpenLoopResult & { cpu?: Cpu };
  rawLatencySqlite?: OpenLoopResult & { cpu?: Cpu };
}

interface Target {
  what: string;
  value: number | null;
  target: string;
  /** null when the figure could not be measured in this run. */
  pass: boolean | null;
}

/** A throughput phase that ran out of time did not measure a rate: it is reported as missing, not as a figure. */
const rate = (t?: Throughput) => (t && !t.timedOut ? round(t.perSecond, 0) : null);
const latency = (l: OpenLoopResult | undefined, key: 'p50' | 'p99') => (l && l.missing === 0 ? round(l[key]) : null);
const ratio = (e2e: number | null, raw: number | null) => (e2e !== null && raw ? round(e2e / raw, 3) : null);

interface Meta {
  machine: ReturnType<typeof machine>;
  sizes: unknown;
  pipeline: unknown[];
  conditions: Record<string, unknown>;
  seconds: number;
}

export function buildReport(r: PhaseResults, errors: Record<string, string>, meta: Meta) {
  const raw_bullmq_pipeline_per_s = rate(r.rawBullmq);
  const raw_sqlite_pipeline_per_s = rate(r.rawSqlite);
  const e2e_bullmq_msgs_per_s = rate(r.e2eBullmq);
  const e2e_embedded_msgs_per_s = rate(r.e2eEmbedded);
  const ratio_bullmq = ratio(e2e_bullmq_msgs_per_s, raw_bullmq_pipeline_per_s);
  const ratio_embedded = ratio(e2e_embedded_msgs_per_s, raw_sqlite_pipeline_per_s);
  const p99_bullmq_ms = latency(r.latencyBullmq, 'p99');
  const p99_embedded_ms = latency(r.latencyEmbedded, 'p99');
  const check = (value: number | null, ok: (v: number) => boolean) => (value === null ? null : ok(value));
  const targets: Target[] = [
    { what: 'e2e_bullmq / raw_bullmq', value: ratio_bullmq, target: '>= 0.5', pass: check(ratio_bullmq, (v) => v >= 0.5) },
    { what: 'e2e_embedded / raw_sqlite', value: ratio_embedded, target: '>= 0.5', pass: check(ratio_embedded, (v) => v >= 0.5) },
    { what: 'p99_bullmq_ms @100/s', value: p99_bullmq_ms, target: '< 20', pass: check(p99_bullmq_ms, (v) => v < 20) },
    { what: 'p99_embedded_ms @100/s', value: p99_embedded_ms, target: '< 10', pass: check(p99_embedded_ms, (v) => v < 10) },
  ];
  return {
    at: new Date().toISOString(),
    machine: meta.machine,
    note:
      'Default inbound pipeline kept [rate-limit, access, group-gate, redact, guard], with the rate-limit plug raised to ' +
      '10,000,000 msgs/min per sender, conversation and workspace (the default 20/min per sender would throttle the bench).',
    raw_bullmq_pipeline_per_s,
    raw_sqlite_pipeline_per_s,
    e2e_bullmq_msgs_per_s,
    e2e_embedded_msgs_per_s,
    p50_bullmq_ms: latency(r.latencyBullmq, 'p50'),
    p99_bullmq_ms,
    p50_embedded_ms: latency(r.latencyEmbedded, 'p50'),
    p99_embedded_ms,
    p50_raw_bullmq_ms: latency(r.rawLatencyBullmq, 'p50'),
    p99_raw_bullmq_ms: latency(r.rawLatencyBullmq, 'p99'),
    p50_raw_sqlite_ms: latency(r.rawLatencySqlite, 'p50'),
    p99_raw_sqlite_ms: latency(r.rawLatencySqlite, 'p99'),
    ratio_e2e_raw_bullmq: ratio_bullmq,
    ratio_e2e_raw_embedded: ratio_embedded,
    targets,
    phases: r,
    errors,
    /** Machine-wide CPU busy share just before each phase (after waiting up to BENCH_QUIET_MS for quiet), and the wait. */
    conditions: meta.conditions,
    sizes: meta.sizes,
    pipeline: meta.pipeline,
    bench_seconds: round(meta.seconds, 1),
  };
}

export type Report = ReturnType<typeof buildReport>;

const fmt = (v: number | null | undefined, unit = '') => (v === null || v === undefined ? 'n/a' : `${v.toLocaleString('en-US')}${unit}`);
const row = (cells: string[], widths: number[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();

export function printReport(rep: Report): void {
  const m = rep.machine;
  const lines: string[] = [];
  lines.push(`MonkeyClaw bench: ${m.cores} cores (${m.cpu}), ${m.memory_gib} GiB, Node ${m.node}, ${m.platform}`);
  lines.push(`Config: ${rep.note}`);
  lines.push('');
  const w = [28, 10, 60];
  const phases = rep.phases;
  // Each process's CPU seconds per wall second of the phase: near 100% is saturated (one thread each, Redis too).
  const pct = (s: number | null | undefined, c: Cpu) => (s === null || s === undefined ? '' : `${Math.round((100 * s) / c.wall_s)}%`);
  const cpu = (c?: Cpu, server = 'worker'): string =>
    c ? `; cpu ${server} ${pct(c.server_s, c)}, load ${pct(c.load_s, c)}${c.redis_s !== null ? `, redis ${pct(c.redis_s, c)}` : ''}` : '';
  const tp = (t?: Throughput & { cpu?: Cpu }, server?: string) =>
    t ? `${t.count} msgs in ${round(t.seconds)} s${t.timedOut ? ' (TIMED OUT)' : ''}${cpu(t.cpu, server)}` : '';
  const lat = (l?: OpenLoopResult & { cpu?: Cpu }, server?: string) =>
    l ? `n=${l.count} p90 ${round(l.p90)} max ${round(l.max)} ms, sent ${round(l.achievedSendPerSecond, 1)}/s, missing ${l.missing}${cpu(l.cpu, server)}` : '';
  lines.push(row(['metric', 'value', 'detail'], w));
  lines.push(row(['raw_bullmq_pipeline_per_s', fmt(rep.raw_bullmq_pipeline_per_s), tp(phases.rawBullmq, 'hop')], w));
  lines.push(row(['raw_sqlite_pipeline_per_s', fmt(rep.raw_sqlite_pipeline_per_s), tp(phases.rawSqlite, 'hop')], w));
  lines.push(row(['e2e_bullmq_msgs_per_s', fmt(rep.e2e_bullmq_msgs_per_s), tp(phases.e2eBullmq)], w));
  lines.push(row(['e2e_embedded_msgs_per_s', fmt(rep.e2e_embedded_msgs_per_s), tp(phases.e2eEmbedded)], w));
  lines.push(row(['p50_bullmq_ms', fmt(rep.p50_bullmq_ms), lat(phases.latencyBullmq)], w));
  lines.push(row(['p99_bullmq_ms', fmt(rep.p99_bullmq_ms), ''], w));
  lines.push(row(['p50_embedded_ms', fmt(rep.p50_embedded_ms), lat(phases.latencyEmbedded)], w));
  lines.push(row(['p99_embedded_ms', fmt(rep.p99_embedded_ms), ''], w));
  lines.push(row(['p50_raw_bullmq_ms', fmt(rep.p50_raw_bullmq_ms), lat(phases.rawLatencyBullmq, 'hop')], w));
  lines.push(row(['p99_raw_bullmq_ms', fmt(rep.p99_raw_bullmq_ms), 'baseline: the two raw BullMQ hops at the same rate'], w));
  lines.push(row(['p50_raw_sqlite_ms', fmt(rep.p50_raw_sqlite_ms), lat(phases.rawLatencySqlite, 'hop')], w));
  lines.push(row(['p99_raw_sqlite_ms', fmt(rep.p99_raw_sqlite_ms), 'baseline: the two raw embedded hops at the same rate'], w));
  lines.push('');
  const tw = [28, 10, 8, 6];
  lines.push(row(['target', 'value', 'target', 'result'], tw));
  for (const t of rep.targets) lines.push(row([t.what, fmt(t.value), t.target, t.pass === null ? 'N/A' : t.pass ? 'PASS' : 'MISS'], tw));
  for (const [phase, error] of Object.entries(rep.errors)) lines.push(`error in ${phase}: ${error.split('\n')[0]}`);
  const noisy = Object.entries(rep.conditions).filter(([, c]) => ((c as { busy: number | null }).busy ?? 0) > 0.2);
  if (noisy.length) lines.push(`warning: other processes kept the CPUs busy before ${noisy.map(([n]) => n).join(', ')}: those figures are pessimistic`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
