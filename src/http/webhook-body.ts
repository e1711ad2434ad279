/**
 * Webhook bodies are read here before any connector has checked them, so whoever can reach the port decides what
 * they hold: what they may take of this process (the one holding the master key) is bounded three ways.
 */

/** Bytes of webhook bodies held at once, all routes together: counted as they arrive, not as they are declared. */
export class ByteBudget {
  private held = 0;

  constructor(readonly limit: number) {}

  take(bytes: number): boolean {
    if (this.held + bytes > this.limit) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held -= bytes;
  }
}

/** Why a body was not read: over the size, over the budget, too slow, or its sender went away. */
export type Unread = 'too large' | 'busy' | 'slow' | 'gone';
export type BodyRead = { ok: true; body: Buffer; release(): void } | { ok: false; why: Unread };

/**
 * The whole body, or why not: over `maxBytes` (413), the budget spent (503: a platform retries), or not all there
 * within `deadlineMs` (408). A sender trickling bytes holds only what it sent, and only until the deadline; 16 such
 * connections used to hold the whole budget, as each declared 1 MiB, for the server's 5-minute request timeout.
 * `release` gives the bytes back once the body has been handed on and answered.
 */
export async function readBody(request: Request, budget: ByteBudget, o: { maxBytes: number; deadlineMs: number }): Promise<BodyRead> {
  const chunks: Buffer[] = [];
  let size = 0;
  const fail = (why: Unread): BodyRead => {
    budget.give(size);
    return { ok: false, why };
  };
  if (!request.body) return { ok: true, body: Buffer.alloc(0), release: () => undefined };
  const reader = request.body.getReader();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), o.deadlineMs)));
  try {
    for (;;) {
      // A sender that goes away mid-body gives its bytes back too: kept, 16 of them shut webhooks out for good.
      const next = await Promise.race([reader.read().catch(() => 'gone' as const), late]);
      if (next === 'late') return fail('slow');
      if (next === 'gone') return fail('gone');
      if (next.done) break;
      const chunk = Buffer.from(next.value);
      if (size + chunk.length > o.maxBytes) return fail('too large');
      if (!budget.take(chunk.length)) return fail('busy');
      size += chunk.length;
      chunks.push(chunk);
    }
  } finally {
    clearTimeout(timer);
    // What is left unread is not waited for: the connection is closed with the answer.
    void reader.cancel().catch(() => undefined);
  }
  let released = false;
  const release = () => {
    if (!released) budget.give(size);
    released = true;
  };
  return { ok: true, body: Buffer.concat(chunks, size), release };
}
