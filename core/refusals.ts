/**
 * Refusals anyone can cause (a forged webhook, a wrong API key, a malformed request) are each counted, and reported
 * at most once per `everyMs` for each source, with how many there were since the last report: a flood of them
 * must not become a flood of audit entries or log lines.
 */
export class RefusalReporter {
  private readonly sources = new Map<string, { since: number; reportedAt: number }>();

  constructor(
    private readonly report: (source: string, why: string, refusedSinceLast: number) => void,
    private readonly now: () => number,
    private readonly everyMs = 60_000,
    /** Sources remembered (least recent forgotten first): callers may name them, so their number is bounded. */
    private readonly maxSources = 1_000,
  ) {}

  refused(source: string, why: string): void {
    const s = this.sources.get(source) ?? { since: 0, reportedAt: -Infinity };
    s.since += 1;
    if (this.now() - s.reportedAt >= this.everyMs) {
      this.report(source, why, s.since);
      s.since = 0;
      s.reportedAt = this.now();
    }
    this.sources.delete(source);
    this.sources.set(source, s);
    if (this.sources.size > this.maxSources) this.sources.delete(this.sources.keys().next().value!);
  }
}
