import { randomBytes } from 'node:crypto';
import { newEventId } from '../core/ids.js';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { publishEvents } from '../core/connector.js';
import { isOwnerDecision } from '../core/session-worker.js';
import { outboundQueue, type ChannelEventInput } from '../core/event.js';
import { outboundHandler } from '../core/outbound.js';
import { openRuntime } from '../src/runtime.js';
import { closedLoop, openLoop, report, Tracker } from './drive.js';

/**
 * The connector process of the end-to-end runs: a loopback connector as `monkeyclaw chat` wires one (publishEvents
 * onto `inbound`, outboundHandler on its own `outbound:loopback-<account>` queue), driven by the bench instead of
 * a terminal. A real `monkeyclaw worker` process answers. Prints one RESULT line.
 *
 *   node dist/bench/loopback-load.js '{"dataDir":…,"config":…,"mode":"throughput"|"latency",…}'
 */
interface Params {
  dataDir: string;
  config: string;
  mode: 'throughput' | 'latency';
  conversations: number;
  outboundConcurrency: number;
  // throughput
  warmup: number;
  total: number;
  window: number;
  batch: number;
  timeoutMs: number;
  // latency
  rate: number;
  warmupS: number;
  measureS: number;
  drainMs: number;
}

const ACTOR = 'connector:loopback';
const params = JSON.parse(process.argv[2] ?? '{}') as Params;
const rt = await openRuntime({ dataDir: params.dataDir, config: params.config }, 'connector:loopback');
// Its own account, hence its own outbound queue, exactly like one terminal running `chat`.
const account = `bench-${randomBytes(4).toString('hex')}`;
const tracker = new Tracker();
let unmatched = 0;
/**
 * BENCH_TRACE=FILE: per-message epoch times (publish, outbound start, reply), to line up with the worker's turn
 * commit times in the data dir (processed_events) when a latency tail needs explaining.
 */
const traceFile = process.env.BENCH_TRACE;
const trace = new Map<string, { sent: number; started?: number; replied?: number }>();
const epoch = () => performance.timeOrigin + performance.now();

const handler = outboundHandler(rt.store, ACTOR, async (reply) => {
  // The platform send of a loopback connector is handing the text to the terminal: here, stopping the clock.
  if (!reply.idempotencyKey.endsWith(':reply')) unmatched++;
  if (traceFile) trace.get(reply.eventId)!.replied = epoch();
  tracker.received(reply.eventId);
  return [reply.idempotencyKey];
});
const outbound = rt.queue.consume(
  outboundQueue({ platform: 'loopback', account }),
  // Traced: when the outbound job reached this process, before the send record is written.
  traceFile
    ? (job, signal) => ((trace.get((job.payload as { eventId: string }).eventId)!.started = epoch()), handler(job, signal))
    : handler,
  { concurrency: params.outboundConcurrency },
);

let seq = 0;
/** One loopback DM per message, round-robin over conversations bench-0…bench-N−1 (order is per conversation). */
function event(): ChannelEventInput {
  const n = seq++;
  return {
    v: 1,
    id: newEventId(),
    platform: 'loopback',
    account,
    conversation: { id: `bench-${n % params.conversations}`, kind: 'dm' },
    sender: { id: 'local', name: 'bench', isBot: false },
    text: `bench message ${n}`,
    platformMessageId: newEventId(),
    receivedAt: new Date().toISOString(),
  };
}

async function publish(n: number, record: boolean): Promise<void> {
  const events = Array.from({ length: n }, event);
  const at = performance.now();
  for (const e of events) tracker.expect(e.id as string, at, record);
  if (traceFile) for (const e of events) trace.set(e.id as string, { sent: epoch() });
  await publishEvents(rt.queue, rt.store, ACTOR, events, isOwnerDecision(rt.config));
}

let result: unknown;
if (params.mode === 'throughput') {
  const loop = { tracker, window: params.window, batch: params.batch, timeoutMs: params.timeoutMs, publish: (n: number) => publish(n, false) };
  // Warm-up: the worker's first turns create 64 channels and sessions, JIT, nudge sockets, BullMQ scripts.
  const warm = await closedLoop({ ...loop, total: params.warmup });
  const measured = await closedLoop({ ...loop, total: params.total });
  result = { ...measured, warmupTimedOut: warm.timedOut, window: params.window, batch: params.batch };
} else {
  result = await openLoop({
    tracker,
    rate: params.rate,
    warmupS: params.warmupS,
    measureS: params.measureS,
    drainMs: params.drainMs,
    publishOne: (record) => publish(1, record),
  });
}
report({ ...(result as object), driver: rt.queue.name, unmatchedReplies: unmatched, outboundConcurrency: params.outboundConcurrency });
if (traceFile) writeFileSync(traceFile, JSON.stringify([...trace].map(([id, t]) => ({ id, ...t }))));
await outbound.close(1_000);
await rt.close();
process.exit(0);
