import { describe, expect, it } from 'vitest';
import { LoginLimiter } from '../../src/http/dashboard/login-limit.js';

describe('LoginLimiter', () => {
  it('stops guesses spread over many addresses, but not an address that signed in before', () => {
    const limiter = new LoginLimiter({ perAddress: 3, global: 5, windowMs: 60_000 }, () => 1_000);
    expect(limiter.attempt('127.0.0.1')).toBe(true);
    limiter.succeeded('127.0.0.1');
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']) expect(limiter.attempt(address)).toBe(true);
    // The overall ceiling is reached: a new address waits, the owner's does not.
    expect(limiter.attempt('10.0.0.6')).toBe(false);
    expect(limiter.retryAfterMs('10.0.0.6')).toBe(60_000);
    expect(limiter.retryAfterMs('127.0.0.1')).toBe(0);
    expect(limiter.attempt('127.0.0.1')).toBe(true);
    // Its own limit still holds.
    expect(limiter.attempt('127.0.0.1')).toBe(true);
    expect(limiter.attempt('127.0.0.1')).toBe(true);
    expect(limiter.attempt('127.0.0.1')).toBe(false);
  });
});
