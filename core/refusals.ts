/** Reasons kept apart in one report; the callers' words can vary without end (a path, a model name). */
const MAX_REASONS = 10;
const OTHER = 'other reasons';

interface Counted {
  /** Refusals since the last report, by reason. */
  whys: Map<string, number>;
  reportedAt: number;
  /** Set while refusals wait for the end of the interval to be reported. */
  timer?: NodeJS.Timeout;
}

/**
 * Refusals anyone can cause (a forged webhook, a wrong API key, a malformed request) are each counted, and reported
 * at most once per `everyMs` for each source, with how many there were since the last report and why: a flood of
 * them must not become a flood of audit entries or log lines. The first is reported at once; those that follow within
 * the interval are reported when it ends, whether or not another refusal comes.
 */
export class RefusalReporter {
  /** Every reporter of the process: a process shutting down reports what each still counts (`flushAll`). */
  private static readonly live = new Set<RefusalReporter>();
  private readonly sources = new Map<string, Counted>();

  /** Reports what every reporter of this process counted and has not reported yet; resolves once they are written. */
  static async flushAll(): Promise<void> {
    const written: unknown[] = [];
    for (const reporter of RefusalReporter.live) for (const [source, s] of reporter.sources) written.push(reporter.flush(source, s));
    await Promise.allSettled(written);
  }

  constructor(
    /** May return the write's promise, for `flushAll` to wait on. */
    private readonly report: (source: string, why: string, refusedSinceLast: number) => unknown,
    private readonly now: () => number,
    private readonly everyMs = 60_000,
    /** Sources remembered (least recent forgotten first): callers may name them, so their number is bounded. */
    private readonly maxSources = 1_000,
  ) {
    RefusalReporter.live.add(this);
  }

  refused(source: string, why: string): void {
    const s = this.sources.get(source) ?? { whys: new Map<string, number>(), reportedAt: -Infinity };
    const reason = s.whys.has(why) || s.whys.size < MAX_REASONS ? why : OTHER;
    s.whys.set(reason, (s.whys.get(reason) ?? 0) + 1);
    const wait = s.reportedAt + this.everyMs - this.now();
    if (wait <= 0) this.flush(source, s);
    else s.timer ??= setTimeout(() => this.flush(source, s), wait).unref();
    this.sources.delete(source);
    this.sources.set(source, s);
    if (this.sources.size > this.maxSources) {
      const [oldest, state] = this.sources.entries().next().value!;
      this.flush(oldest, state);
      this.sources.delete(oldest);
    }
  }

  private flush(source: string, s: Counted): unknown {
    clearTimeout(s.timer);
    s.timer = undefined;
    if (s.whys.size === 0) return undefined;
    const count = [...s.whys.values()].reduce((a, b) => a + b, 0);
    const why = [...s.whys].map(([w, n]) => (n > 1 ? `${w} (${n} times)` : w)).join('; ');
    s.whys.clear();
    s.reportedAt = this.now();
    return this.report(source, why, count);
  }
}
