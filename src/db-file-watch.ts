import { statSync } from 'node:fs';

/**
 * Resolves with what happened once the database file is no longer the one the gateway opened: deleted (the data
 * dir removed) or replaced. Every process goes on writing to the file it has open, which nothing will ever read
 * again, and connectors go on confirming updates to their platforms as stored: the gateway must stop instead.
 */
export function watchDbFile(file: string, everyMs = 1_000): { changed: Promise<string>; stop(): void } {
  const identity = (): string | undefined => {
    try {
      const s = statSync(file);
      return `${s.dev}:${s.ino}`;
    } catch {
      return undefined;
    }
  };
  const opened = identity();
  let timer: NodeJS.Timeout | undefined;
  const changed = new Promise<string>((resolve) => {
    timer = setInterval(() => {
      const now = identity();
      if (now === opened) return;
      clearInterval(timer);
      resolve(now === undefined ? `${file} was deleted` : `${file} was replaced by another file`);
    }, everyMs);
    timer.unref();
  });
  return { changed, stop: () => clearInterval(timer) };
}
