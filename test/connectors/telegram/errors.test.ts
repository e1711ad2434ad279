import { GrammyError } from 'grammy';
import { describe, expect, it } from 'vitest';
import { toJobError } from '../../../connectors/telegram/errors.js';
import { isRefused } from '../../../core/outbound.js';
import { isUnrecoverable, RetryLaterError } from '../../../core/queue.js';

const apiError = (error_code: number, parameters: Record<string, number> = {}) =>
  new GrammyError('Call to sendMessage failed', { ok: false, error_code, description: 'Too Many Requests', parameters }, 'sendMessage', {});

describe('telegram send errors as the queue reads them', () => {
  it('a 429 auto-retry left to us waits out its retry_after without a slot or an attempt, as a refusal', () => {
    const error = toJobError(apiError(429, { retry_after: 7 }));
    expect(error).toBeInstanceOf(RetryLaterError);
    expect((error as RetryLaterError).afterMs).toBe(7_000);
    // Telegram took nothing: the send's intent is withdrawn, its retry not audited as resent.
    expect(isRefused(error)).toBe(true);
  });

  it('a 429 without retry_after is an ordinary refused failure; a 400 is never retried', () => {
    const limited = toJobError(apiError(429));
    expect(limited).not.toBeInstanceOf(RetryLaterError);
    expect(isRefused(limited)).toBe(true);
    expect(isUnrecoverable(toJobError(apiError(400)))).toBe(true);
  });
});
