import type { Verdict } from '../../doctor.js';

export interface DoctorRun {
  /** When the checks finished (ISO-8601). */
  at: string;
  verdicts: Verdict[];
}

export interface DoctorRunOptions {
  /** A run that finished this recently is shown again instead of starting another: each run makes network calls. */
  cooldownMs: number;
  /** After this the run counts as failed (the runner kills its child on its own deadline). */
  timeoutMs: number;
  redact: (text: string) => string;
  now?: () => number;
}

/**
 * The dashboard's doctor runs, one connector at a time each: a click while a run is going joins it, a click
 * within the cooldown gets the last verdict, and a run that takes too long becomes a failed verdict. Verdicts are
 * redacted before they are kept.
 */
export class DoctorRuns {
  private readonly last = new Map<string, DoctorRun & { finished: number }>();
  private readonly running = new Map<string, Promise<DoctorRun>>();
  private readonly now: () => number;

  constructor(
    private readonly check: (connector: string) => Promise<Verdict[]>,
    private readonly options: DoctorRunOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  latest(connector: string): DoctorRun | undefined {
    const last = this.last.get(connector);
    return last && { at: last.at, verdicts: last.verdicts };
  }

  /** `fresh` is false when the answer is a recent run's, given again. */
  async run(connector: string): Promise<{ run: DoctorRun; fresh: boolean }> {
    const going = this.running.get(connector);
    if (going) return { run: await going, fresh: true };
    const last = this.last.get(connector);
    if (last && this.now() - last.finished < this.options.cooldownMs) return { run: { at: last.at, verdicts: last.verdicts }, fresh: false };
    const started = this.execute(connector);
    this.running.set(connector, started);
    try {
      return { run: await started, fresh: true };
    } finally {
      this.running.delete(connector);
    }
  }

  private async execute(connector: string): Promise<DoctorRun> {
    const { timeoutMs, redact } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no verdict within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    });
    let verdicts: Verdict[];
    try {
      verdicts = await Promise.race([this.check(connector), late]);
    } catch (error) {
      verdicts = [{ ok: false, what: `connector ${connector}`, detail: error instanceof Error ? error.message : String(error) }];
    } finally {
      clearTimeout(timer);
    }
    const finished = this.now();
    const run = { at: new Date(finished).toISOString(), verdicts: verdicts.map((v) => ({ ok: v.ok, ...(v.warn ? { warn: true } : {}), what: redact(v.what), detail: redact(v.detail) })) };
    this.last.set(connector, { ...run, finished });
    return run;
  }
}
