import { createServer } from 'node:net';

/**
 * Below the kernel's ephemeral range (32768–60999 on Linux), which every `listen(0)` and outgoing connection draws
 * from: a port handed out here and bound a moment later by a gateway under test cannot meanwhile be given to a fake
 * server or a client socket of another test running in parallel, as one from `listen(0)` could.
 */
const FIRST = 20_000;
const COUNT = 12_000;

const bindable = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A port that was free on 127.0.0.1 a moment ago, from outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = FIRST + Math.floor(Math.random() * COUNT);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found in ${FIRST}–${FIRST + COUNT - 1}`);
}
