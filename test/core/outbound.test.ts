import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { outboundHandler, refused } from '../../core/outbound.js';
import { isUnrecoverable } from '../../core/queue.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

describe('outboundHandler', () => {
  const tmp = tempDir('mc-outbound-');
  afterAll(() => tmp.remove());

  it('sends a reply once, records its ids with the audit entry, and marks a send after an unfinished intent as resent', async () => {
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    await store.migrate();
    const sent: string[] = [];
    let failNext = false;
    const handler = outboundHandler(store, 'test', async (reply) => {
      if (failNext) {
        failNext = false;
        throw new Error('platform timed out');
      }
      sent.push(reply.idempotencyKey);
      return [`m${sent.length}`];
    });
    const address = { platform: 'telegram', account: 'telegram', conversation: { id: '1', kind: 'dm' as const } };
    const job = (key: string, attempt: number) => ({
      id: key,
      queue: 'outbound:telegram',
      partition: 'p',
      attempt,
      payload: { v: 1, idempotencyKey: key, eventId: `${key}-event`, address, text: 'hi', format: 'plain', kind: 'reply' },
    });
    const signal = new AbortController().signal;

    await handler(job('a', 1), signal);
    await handler(job('a', 2), signal); // delivered again: already sent, so acknowledged without sending
    failNext = true;
    await expect(handler(job('b', 1), signal)).rejects.toThrow('platform timed out');
    expect(await store.sentMessageIds('b')).toBeUndefined();
    await handler(job('b', 2), signal);
    // A second attempt whose first never reached the send left no intent: nothing can have been sent twice.
    await handler(job('c', 2), signal);

    expect(sent).toEqual(['a', 'b', 'c']);
    expect(await store.sentMessageIds('a')).toEqual(['m1']);
    expect(await store.sentMessageIds('b')).toEqual(['m2']);
    const audits = (await store.auditTail(10)).filter((e) => e.kind === 'outbound.sent').map((e) => JSON.parse(e.data) as { key: string; resent: boolean });
    expect(audits.map((a) => [a.key, a.resent])).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
    ]);
    await store.close();
  });

  it('keeps trying to record a send the platform took, rather than failing the job into a second send', async () => {
    const store = new SqliteStore(join(tmp.dir, 'record.db'));
    await store.migrate();
    const sent: string[] = [];
    // The database refuses the record twice (locked past the write deadline), then takes it.
    let refusals = 2;
    const flaky = Object.assign(Object.create(store) as SqliteStore, {
      completeSend: (...args: Parameters<SqliteStore['completeSend']>) =>
        refusals-- > 0 ? Promise.reject(new Error('the database stayed locked for 10 s')) : store.completeSend(...args),
    });
    const recordErrors: number[] = [];
    const handler = outboundHandler(flaky, 'test', async (reply) => (sent.push(reply.text), ['m1']), { onRecordError: (_e, attempt) => void recordErrors.push(attempt) });
    const address = { platform: 'telegram', account: 'telegram', conversation: { id: '1', kind: 'dm' as const } };
    const job = { id: 'r', queue: 'outbound:telegram', partition: 'p', attempt: 1, payload: { v: 1, idempotencyKey: 'r', eventId: 'e', address, text: 'once', format: 'plain', kind: 'reply' } };
    await handler(job, new AbortController().signal);
    expect(sent).toEqual(['once']);
    expect(recordErrors).toEqual([1, 2]);
    expect(await store.sentMessageIds('r')).toEqual(['m1']);
    // Taken away while it tries (a drain out of time): the job fails undecided, for the next process to finish.
    refusals = Infinity;
    const drain = new AbortController();
    const other = { ...job, id: 's', payload: { ...job.payload, idempotencyKey: 's' } };
    const running = handler(other, drain.signal);
    setTimeout(() => drain.abort(), 50);
    await expect(running).rejects.toThrow(/stayed locked/);
    expect(sent).toEqual(['once', 'once']);
    // A store that keeps failing past the give-up time: dead-lettered as sent, never sent again by a retry.
    const patient = outboundHandler(flaky, 'test', async (reply) => (sent.push(reply.text), ['m3']), { recordGiveUpMs: 300 });
    const third = { ...job, id: 't', payload: { ...job.payload, idempotencyKey: 't' } };
    await expect(patient(third, new AbortController().signal)).rejects.toSatisfy((e: Error) => isUnrecoverable(e) && /sent, but it could not be recorded/.test(e.message));
    expect(sent).toEqual(['once', 'once', 'once']);
    await store.close();
  });

  it('tells of each failed send, with its attempt, before the job is tried again', async () => {
    const store = new SqliteStore(join(tmp.dir, 'send-errors.db'));
    await store.migrate();
    const told: Array<[string, string, number]> = [];
    const handler = outboundHandler(store, 'test', async () => Promise.reject(new Error('451 Temporary failure')), {
      onSendError: (error, reply, attempt) => void told.push([(error as Error).message, reply.idempotencyKey, attempt]),
    });
    const address = { platform: 'email', account: 'email', conversation: { id: '1', kind: 'dm' as const } };
    const job = { id: 'k', queue: 'outbound:email', partition: 'p', attempt: 2, payload: { v: 1, idempotencyKey: 'k', eventId: 'e', address, text: 'x', format: 'plain', kind: 'reply' } };
    await expect(handler(job, new AbortController().signal)).rejects.toThrow('451');
    expect(told).toEqual([['451 Temporary failure', 'k', 2]]);
    await store.close();
  });

  it('withdraws the intent of a send the platform refused, so its retry is not audited as resent', async () => {
    const store = new SqliteStore(join(tmp.dir, 'refused.db'));
    await store.migrate();
    const failures: Error[] = [refused(new Error('429 Too Many Requests'))];
    const handler = outboundHandler(store, 'test', async () => {
      const failure = failures.shift();
      if (failure) throw failure;
      return [`m${failures.length}`];
    });
    const address = { platform: 'slack', account: 'slack', conversation: { id: 'C1', kind: 'channel' as const } };
    const job = (attempt: number) => ({
      id: 'k',
      queue: 'outbound:slack',
      partition: 'p',
      attempt,
      payload: { v: 1, idempotencyKey: 'k', eventId: 'e', address, text: 'hi', format: 'plain', kind: 'reply' },
    });
    const signal = new AbortController().signal;
    await expect(handler(job(1), signal)).rejects.toThrow('429');
    await handler(job(2), signal);
    // A timeout (the platform may have posted), then a refusal: the timeout's mark stands.
    failures.push(new Error('timed out'), refused(new Error('429 Too Many Requests')));
    const other = { ...job(1), id: 'k2', payload: { ...job(1).payload, idempotencyKey: 'k2' } };
    await expect(handler(other, signal)).rejects.toThrow('timed out');
    await expect(handler({ ...other, attempt: 2 }, signal)).rejects.toThrow('429');
    await handler({ ...other, attempt: 3 }, signal);
    const audits = (await store.auditTail(10)).filter((e) => e.kind === 'outbound.sent').map((e) => JSON.parse(e.data) as { key: string; resent: boolean });
    expect(audits.map((a) => [a.key, a.resent])).toEqual([
      ['k', false],
      ['k2', true],
    ]);
    expect(await store.sentMessageIds('k')).toEqual(['m0']);
    await store.close();
  });
});
