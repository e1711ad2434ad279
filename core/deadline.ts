/**
 * Waits for `work` for at most `ms`: true when it settled (either way), false when the time ran out. For shutdown
 * paths, where a client stuck reconnecting to a server that is gone (ioredis queues commands while offline) must
 * not hold up the 10 s a process has to exit.
 */
export function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([work.then(() => true, () => true), late]).finally(() => clearTimeout(timer));
}

/**
 * `work`, or a rejection with `message` after `ms` (`onLate` runs first: close what the work holds open). For checks
 * that must answer within a bound whatever the other side does.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string, onLate?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onLate?.();
      reject(new Error(message));
    }, ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
