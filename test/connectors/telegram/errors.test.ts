import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Bot, GrammyError } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { describe as describeError, toJobError } from '../../../connectors/telegram/errors.js';
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

describe('telegram network errors in words', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });
  const serve = async (handler: Parameters<typeof createServer>[1]) => {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const failure = async (apiRoot: string) => {
    const error = await new Bot('123456:SECRET-token-value', { client: { apiRoot } }).api.getMe().catch((e: unknown) => e);
    return describeError(error);
  };

  it('tells refused, reset and a proxy\'s error page apart, and never quotes the request URL with its token', async () => {
    const closed = await serve(() => undefined);
    await new Promise((r) => servers.pop()!.close(r)); // nothing listens there now
    const reset = await serve((req) => req.socket.destroy());
    const proxy = await serve((_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad gateway</html>'));
    const said = [await failure(closed), await failure(reset), await failure(proxy)];
    expect(said[0]).toBe(`network: Network request for 'getMe' failed! (connection refused: nothing is listening at ${closed.slice(7)})`);
    expect(said[1]).toBe(`network: Network request for 'getMe' failed! (${reset.slice(7)} closed the connection)`);
    expect(said[2]).toMatch(/\(the answer was not Telegram's JSON: a proxy's error page/);
    for (const s of said) expect(s).not.toContain('SECRET-token-value');
  });
});
