import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectorIO } from '../../../core/connector.js';
import { delayedPublish } from '../../helpers/connector-harness.js';
import { fixture, freshTs, sleep, startSlack, type SlackRig } from './helpers.js';

/**
 * What Slack does to a Socket Mode app on its own: it closes a connection itself a little after telling it to go,
 * and it sends an envelope again, on the same connection, when the ack is late. Neither may cost a message or
 * answer one twice.
 */

const DM = 'D024BE91L';

let rig: SlackRig | undefined;
/** Opens a publish a test holds back: a failed test must not leave stop() waiting on it. */
let release: (() => void) | undefined;
afterEach(async () => {
  release?.();
  await rig?.stop();
  rig = release = undefined;
});

const dm = (text: string, ts = freshTs()) => fixture('message.im', { text, ts, event_ts: ts }, { event_id: `Ev${ts.replace('.', '')}` });

describe('slack connector, Slack recycling the socket', () => {
  // 300 ms: the client has closed by then and Slack's close finds nothing. 0: Slack's close frame crosses the
  // client's own close (the server closes first), the case the client-initiated tests never reach.
  it.each([
    ['refresh_requested', 300],
    ['refresh_requested', 0],
    ['warning', 0],
  ] as const)('disconnect (%s), Slack closing the socket %i ms later: messages before, during and after are each answered once, every envelope acked', async (reason, closeAfterMs) => {
    // Enqueueing takes a while, so the message before is still in flight when the connection goes: its ack has
    // no socket left to go back on, and Slack delivers it again on the next one.
    const slow = delayedPublish(300);
    rig = await startSlack({ fake: { disconnectCloseMs: closeAfterMs }, wrapPublish: slow.wrap });
    const before = rig.fake.push(dm('before'));
    rig.fake.disconnect(reason);
    const during = rig.fake.push(dm('during'));
    await rig.harness.until(() => rig!.fake.connections >= 2 && rig!.fake.open >= 1);
    const after = rig.fake.push(dm('after'));

    await rig.waitPosts(DM, 3);
    await rig.harness.until(() => [before, during, after].every((id) => rig!.fake.acked(id)));
    await sleep(800); // a duplicate would have been posted by now
    expect(rig.postsIn(DM).map((p) => p.text).sort()).toEqual(['after', 'before', 'during']);
    expect(rig.fake.unacked()).toEqual([]);
    // The scenario happened: the ack of `before` was lost with its socket, and Slack delivered it again.
    expect(rig.fake.deliveries.filter((d) => d.id === before).map((d) => d.connection)).toEqual([1, 2]);
    // The first connection ended: by the client, or (0 ms) by Slack before the client got round to it.
    expect(rig.fake.open).toBe(1);
    if (closeAfterMs === 0) expect(rig.fake.serverCloses).toBe(1);
  });
});

describe('slack connector, Slack retrying an envelope not acked in time', () => {
  it('gets the retries on the same connection while it cannot enqueue, acks only after the durable enqueue, and answers once', async () => {
    const gate = new Promise<void>((resolve) => (release = resolve));
    let storedAt: number | undefined;
    // The queue cannot take the event until the gate opens (a write lock held, a slow disk).
    const held = (publish: ConnectorIO['publish']): ConnectorIO['publish'] => async (events) => {
      await gate;
      const stored = await publish(events);
      storedAt ??= Date.now();
      return stored;
    };
    rig = await startSlack({ fake: { ackTimeoutMs: 250 }, wrapPublish: held });
    const id = rig.fake.push(dm('slow to enqueue'));

    const mine = () => rig!.fake.deliveries.filter((d) => d.id === id);
    await rig.harness.until(() => mine().length >= 4);
    await sleep(500); // three retries, then Slack stops trying on this connection
    expect(mine().map((d) => [d.connection, d.retry_attempt, d.retry_reason])).toEqual([
      [1, 0, ''],
      [1, 1, 'timeout'],
      [1, 2, 'timeout'],
      [1, 3, 'timeout'],
    ]);
    // Nothing was acked or answered while the event was not durably enqueued, and the socket was kept.
    expect(rig.fake.acked(id)).toBe(false);
    expect(rig.fake.posts).toHaveLength(0);
    expect(rig.fake.connections).toBe(1);

    release!();
    const [post] = await rig.waitPosts(DM, 1);
    expect(post!.text).toBe('slow to enqueue');
    await rig.harness.until(() => rig!.fake.acked(id));
    expect(storedAt).toBeDefined();
    expect(rig.fake.ackedAt(id)!).toBeGreaterThanOrEqual(storedAt!);
    await sleep(800); // the three retried copies are processed too: each must be a duplicate
    expect(rig.postsIn(DM)).toHaveLength(1);
    expect((await rig.harness.auditKinds()).filter((k) => k === 'inbound.received')).toHaveLength(1);
    expect(mine()).toHaveLength(4);
  });

  it('an ack that comes between two retries ends them', async () => {
    // Enqueueing takes 600 ms, Slack retries every 250 ms: two retries go out, none after the ack.
    const slow = delayedPublish(600);
    rig = await startSlack({ fake: { ackTimeoutMs: 250 }, wrapPublish: slow.wrap });
    const id = rig.fake.push(dm('a bit slow'));
    await rig.waitPosts(DM, 1);
    await rig.harness.until(() => rig!.fake.acked(id));
    const acked = rig.fake.ackedAt(id)!;
    expect(acked).toBeGreaterThanOrEqual(slow.storedAt()!);
    await sleep(1_500);
    const mine = rig.fake.deliveries.filter((d) => d.id === id);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine.every((d) => d.connection === 1 && d.at <= acked)).toBe(true);
    expect(rig.postsIn(DM)).toHaveLength(1);
  });
});
