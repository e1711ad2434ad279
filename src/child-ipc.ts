import { z } from 'zod';

/**
 * What a child tells its supervisor besides webhooks: why it is about to exit (the supervisor audits it with the
 * crash, and the dashboard shows it as the process's last error), and a one-off doctor run's verdicts.
 */
export const FATAL_REPORT = 'monkeyclaw:fatal';
/**
 * A child says it now reads requests (webhooks): one sent before it listens is lost, and its caller waited 10 s for
 * an answer. Until then the supervisor answers for it that it is starting.
 */
export const LISTENING = 'monkeyclaw:listening';
export const isListening = (m: unknown): boolean => (m as { type?: unknown } | null)?.type === LISTENING;
export const DOCTOR_RESULT = 'monkeyclaw:doctor-result';
/**
 * A child's sign of life, sent from its event loop every ALIVE_EVERY_MS: a process that is running but whose loop is
 * stuck (a regular expression that backtracks for minutes, a loop that never ends) answers nothing and holds its
 * jobs; only this tells it from a busy one.
 */
export const ALIVE = 'monkeyclaw:alive';
export const ALIVE_EVERY_MS = 5_000;
export const isAlive = (m: unknown): boolean => (m as { type?: unknown } | null)?.type === ALIVE;

/** Sends ALIVE to the supervisor while the event loop turns; the timer never keeps the process up. */
export function tellAlive(): void {
  setInterval(() => {
    if (process.connected) process.send?.({ type: ALIVE }, undefined, {}, () => undefined);
  }, ALIVE_EVERY_MS).unref();
}

/** Enough for a sentence and its cause; a stack trace stays in the child's log. */
export const MAX_REPORT_CHARS = 500;

const fatalSchema = z.object({ type: z.literal(FATAL_REPORT), message: z.string().max(MAX_REPORT_CHARS) });
const verdictSchema = z.object({ ok: z.boolean(), warn: z.boolean().optional(), what: z.string().max(200), detail: z.string().max(2_000) });
const doctorSchema = z.object({ type: z.literal(DOCTOR_RESULT), verdicts: z.array(verdictSchema).max(50) });

export type DoctorResult = z.infer<typeof doctorSchema>;

export const parseFatalReport = (m: unknown): string | undefined => {
  const r = fatalSchema.safeParse(m);
  return r.success ? r.data.message : undefined;
};

export const parseDoctorResult = (m: unknown): DoctorResult['verdicts'] | undefined => {
  const r = doctorSchema.safeParse(m);
  return r.success ? r.data.verdicts : undefined;
};

/** Sends to the supervisor and waits until the message is handed to the channel (a process about to exit). */
export function sendToParent(message: object, timeoutMs = 1_000): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    try {
      process.send(message, undefined, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/** Text as one line of at most `max` characters (an ellipsis marks a cut). */
export function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export const reportText = (text: string): string => oneLine(text, MAX_REPORT_CHARS);
