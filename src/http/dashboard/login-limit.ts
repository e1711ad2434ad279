import type { Context } from 'hono';

export interface LoginLimits {
  /** Attempts one address may make per window. */
  perAddress: number;
  /** Attempts all addresses together may make per window: a spread-out guesser still meets a ceiling. */
  global: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perAddress: 10, global: 50, windowMs: 15 * 60 * 1000 };
const MAX_ADDRESSES = 10_000;
const MAX_TRUSTED = 100;

/**
 * Counts login attempts per remote address and overall in a sliding window. An attempt is counted before the
 * password is checked, so parallel guesses cannot slip past the limit; a successful login clears its address.
 * An address that has signed in before meets only its own limit, not the overall one: guesses spread over other
 * addresses cannot lock the owner out.
 */
export class LoginLimiter {
  private readonly byAddress = new Map<string, number[]>();
  private all: number[] = [];
  private readonly trusted = new Set<string>();

  constructor(
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records an attempt; false (nothing recorded) when the address or everyone is over the limit. `known`: the key
   * is a browser's device mark, proof of an earlier sign-in, which meets only its own limit.
   */
  attempt(address: string, known = false): boolean {
    const t = this.now();
    const since = t - this.limits.windowMs;
    this.all = this.all.filter((x) => x > since);
    const mine = (this.byAddress.get(address) ?? []).filter((x) => x > since);
    if (mine.length >= this.limits.perAddress || (this.all.length >= this.limits.global && !known && !this.trusted.has(address))) return false;
    mine.push(t);
    this.all.push(t);
    this.byAddress.delete(address);
    this.byAddress.set(address, mine);
    // Oldest addresses go first when the map is full; the global ceiling still holds.
    if (this.byAddress.size > MAX_ADDRESSES) this.byAddress.delete(this.byAddress.keys().next().value!);
    return true;
  }

  /** How long until `address` may try again: until the oldest attempt that holds it back leaves the window. */
  retryAfterMs(address: string, known = false): number {
    const t = this.now();
    const since = t - this.limits.windowMs;
    const mine = (this.byAddress.get(address) ?? []).filter((x) => x > since);
    const all = this.all.filter((x) => x > since);
    const overall = all.length >= this.limits.global && !known && !this.trusted.has(address);
    const frees = [mine.length >= this.limits.perAddress ? mine[0] : undefined, overall ? all[0] : undefined];
    const waits = frees.filter((x): x is number => x !== undefined).map((x) => x + this.limits.windowMs - t);
    return Math.max(0, ...waits);
  }

  succeeded(address: string): void {
    for (const t of this.byAddress.get(address) ?? []) {
      const i = this.all.indexOf(t);
      if (i >= 0) this.all.splice(i, 1);
    }
    this.byAddress.delete(address);
    if (this.trusted.size >= MAX_TRUSTED) this.trusted.delete(this.trusted.values().next().value!);
    this.trusted.add(address);
  }
}

/** The TCP peer's address under @hono/node-server; `unknown` in app.request() tests. Never a forwarded header. */
export function remoteAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } }; server?: { incoming?: { socket?: { remoteAddress?: string } } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? env?.server?.incoming?.socket?.remoteAddress ?? 'unknown';
}
