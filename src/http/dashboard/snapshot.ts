import { z } from 'zod';
import { linkWords, STATUS_KEY } from '../../../connectors/whatsapp/link-words.js';
import { oneLine } from '../../child-ipc.js';
import { outboundQueue } from '../../../core/event.js';
import { CONTROL_QUEUE, INBOUND_QUEUE } from '../../../core/session-worker.js';
import type { ProcessErrorRow } from '../../../core/sqlite/dashboard-queries.js';
import type { DashboardDeps } from './deps.js';
import { TrafficWindow, windowStartFor, type TrafficView } from './traffic.js';

/** What one line of a table can hold; the audit log has the whole text. */
const MAX_ERROR_CHARS = 300;

export interface ProcessRow {
  name: string;
  state: string;
  /** The latest crash or failure to start, redacted and cut short; null when it never had one. */
  lastError: { text: string; at: string } | null;
  /** A connector's messages received and sent (its platform's); null for a worker. */
  in: number | null;
  out: number | null;
}

export interface Snapshot extends TrafficView {
  at: string;
  children: ProcessRow[];
  queues: Array<{ name: string; waiting: number; active: number; dead: number }>;
  deadLetters: number;
}

/** The queues the overview watches: inbound, each enabled connector's outbound queue, and the HTTP surfaces'. */
export function watchedQueues(config: DashboardDeps['config']): string[] {
  const platforms = Object.entries(config.connectors)
    .filter(([name, c]) => c?.enabled && name !== 'loopback')
    .map(([name]) => name);
  return [INBOUND_QUEUE, CONTROL_QUEUE, ...new Set([...platforms, 'web', 'api'].map((p) => outboundQueue({ platform: p, account: p })))];
}

const crashData = z.object({
  code: z.number().nullish(),
  signal: z.string().nullish(),
  /** The child's own last words, when it said why (see src/child-ipc.ts). */
  error: z.string().optional(),
  reason: z.string().optional(),
});

/** The sentence for a crash or a failure to start, from what the supervisor audited. */
export function processErrorText(row: Pick<ProcessErrorRow, 'kind' | 'data'>): string {
  let parsed: z.infer<typeof crashData> = {};
  try {
    parsed = crashData.safeParse(JSON.parse(row.data)).data ?? {};
  } catch {
    // Not JSON: the generic words below.
  }
  if (row.kind === 'process.failed_to_start') return `could not start: ${parsed.reason ?? 'no reason given'}`;
  if (parsed.error) return parsed.error;
  if (parsed.signal) return `killed by ${parsed.signal}`;
  return parsed.code === undefined || parsed.code === null ? 'exited' : `exited with code ${parsed.code}`;
}

type Queries = ReturnType<DashboardDeps['store']['dashboardQueries']>;

/**
 * Reads the audit log for the overview: messages in and out, reply latency, and each process's last error. The
 * first call scans once; after that only entries past the last seen sequence number are read (a primary-key
 * range), so a snapshot every second stays cheap however long the log is.
 */
class AuditFeed {
  private lastSeq = -1;
  private readonly traffic = new TrafficWindow();
  private readonly errors = new Map<string, ProcessErrorRow>();
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly queries: Queries) {}

  /** Serialized: two overlapping updates would count the same entries twice. */
  update(now: number): Promise<{ traffic: TrafficView; errors: ReadonlyMap<string, ProcessErrorRow> }> {
    const next = this.running.then(() => this.advance(now));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async advance(now: number): Promise<{ traffic: TrafficView; errors: ReadonlyMap<string, ProcessErrorRow> }> {
    const head = await this.queries.auditHead();
    if (this.lastSeq < 0) {
      this.traffic.addTotals(await this.queries.trafficTotals(head));
      this.traffic.add(await this.queries.trafficSince(0, { upTo: head, sinceAt: new Date(windowStartFor(now)).toISOString() }), true);
      for (const e of await this.queries.lastProcessErrors(head)) this.errors.set(e.subject, e);
    } else if (head > this.lastSeq) {
      this.traffic.add(await this.queries.trafficSince(this.lastSeq, { upTo: head }));
      for (const e of await this.queries.processErrorsSince(this.lastSeq, head)) this.errors.set(e.subject, e);
    }
    this.lastSeq = Math.max(this.lastSeq, head);
    return { traffic: this.traffic.view(now), errors: this.errors };
  }
}

/** One snapshot at a time, reused for half a second: many open dashboards cost the store what one does. */
export class SnapshotSource {
  private readonly feed: AuditFeed;
  private readonly queues: string[];
  private last?: { at: number; value: Promise<Snapshot> };

  constructor(
    private readonly deps: DashboardDeps,
    private readonly redact: (text: string) => string,
  ) {
    this.feed = new AuditFeed(deps.store.dashboardQueries());
    this.queues = watchedQueues(deps.config);
  }

  get(): Promise<Snapshot> {
    const now = (this.deps.now ?? Date.now)();
    if (this.last && now - this.last.at < 500) return this.last.value;
    const value = this.compute(now);
    this.last = { at: now, value };
    value.catch(() => (this.last = undefined));
    return value;
  }

  private async compute(now: number): Promise<Snapshot> {
    const states = this.deps.states?.() ?? {};
    const queues = await Promise.all(this.queues.map(async (name) => ({ name, ...(await this.deps.queue.depth(name)) })));
    const { traffic, errors } = await this.feed.update(now);
    const byPlatform = new Map(traffic.platforms.map((p) => [p.platform, p]));
    const whatsapp = states['connector:whatsapp'] === 'running' ? linkWords(await this.deps.store.getConnectorState('whatsapp', STATUS_KEY)) : undefined;
    const children = Object.entries(states).map(([name, process]): ProcessRow => {
      // Running is not connected: a WhatsApp process waiting for its QR scan or for the network has not crashed.
      const state = name === 'connector:whatsapp' && whatsapp ? `${process}: ${whatsapp}` : process;
      const platform = name.startsWith('connector:') ? name.slice('connector:'.length) : undefined;
      const counts = platform === undefined ? undefined : (byPlatform.get(platform) ?? { in: 0, out: 0 });
      const error = errors.get(name);
      return {
        name,
        state,
        lastError: error ? { text: oneLine(this.redact(processErrorText(error)), MAX_ERROR_CHARS), at: error.at } : null,
        in: counts?.in ?? null,
        out: counts?.out ?? null,
      };
    });
    return { at: new Date(now).toISOString(), children, queues, deadLetters: queues.reduce((n, q) => n + q.dead, 0), ...traffic };
  }
}
