import { setTimeout as sleep } from 'node:timers/promises';
import { BufferJSON, DisconnectReason } from 'baileys';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CREDS_KEY } from '../../../connectors/whatsapp/auth-state.js';
import { createWhatsapp, QR_KEY } from '../../../connectors/whatsapp/index.js';
import { SELF } from '../../fakes/whatsapp/socket.js';
import { NO_ACCESS_CHANGES } from '../../helpers/connector-harness.js';
import { ALICE, audited, fixture, whatsappGateway, type Cleanup } from './helpers.js';

let cleanup: Cleanup = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe('whatsapp delivery exactly once', () => {
  it('answers a redelivered message (same key id) once', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(fixture('dm-conversation'));
    await h.until(() => current().sent.length === 1);
    current().upsert(fixture('dm-conversation'));
    current().upsert(fixture('dm-conversation', { type: 'append' }));
    await sleep(400);
    expect(current().sent).toHaveLength(1);
  });

  it('answers what history sync (append) brings after a reconnect once, and nothing older than the watermark', async () => {
    const { h, current, sockets } = await whatsappGateway(cleanup, { backoff: { baseMs: 10, maxMs: 10, random: () => 1 } });
    current().upsert(fixture('dm-conversation'));
    await h.until(() => current().sent.length === 1);
    current().close(DisconnectReason.connectionLost);
    await h.until(() => sockets.length === 2);
    current().open();
    // On reconnect WhatsApp syncs history: the handled message again, one from long ago, one sent while offline.
    const history = fixture('dm-conversation', { type: 'append' });
    history.messages.push(fixture('dm-lid', { id: '3EB0ANCIENT', offsetS: -86_400 }).messages[0]!);
    history.messages.push(fixture('dm-extended', { id: '3EB0OFFLINE', offsetS: 1 }).messages[0]!);
    current().upsert(history);
    current().upsert(history); // and once more, as a second sync chunk would
    await h.until(() => current().sent.length >= 1);
    await sleep(400);
    expect(current().sent.map((s) => s.text)).toEqual(['see https://example.org please']);
    expect(sockets[0]!.sent).toHaveLength(1);
  });

  it('keeps the watermark across a restart: offline messages answered once, old history never', async () => {
    const { h, current, sockets } = await whatsappGateway(cleanup);
    // Handled last: a message stamped an hour ahead (the sender's clock); the watermark keeps to ours.
    current().upsert(fixture('dm-conversation', { offsetS: 3_600 }));
    await h.until(() => current().sent.length === 1);
    await h.stopConnector();
    await h.startConnector();
    expect(sockets).toHaveLength(2);
    current().open();
    // What came while down, from a clock a little behind ours, is answered; history from a day ago is not.
    const history = fixture('dm-extended', { type: 'append', id: '3EB0WHILEDOWN', offsetS: 5 });
    history.messages.push(fixture('dm-lid', { id: '3EB0ANCIENT', offsetS: -86_400 }).messages[0]!);
    current().upsert(history);
    await h.until(() => current().sent.length >= 1);
    await sleep(300);
    expect(current().sent.map((s) => s.text)).toEqual(['see https://example.org please']);
  });

  it('answers every offline message, whatever live message comes between them', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().upsert(fixture('dm-extended', { type: 'append', id: '3EB0OFFLINE1', offsetS: 10 }));
    current().upsert(fixture('dm-conversation', { id: '3EB0LIVE', offsetS: 30 }));
    current().upsert(fixture('dm-lid', { type: 'append', id: '3EB0OFFLINE2', offsetS: 20 }));
    await h.until(() => current().sent.length >= 3);
    await sleep(300);
    expect(current().sent).toHaveLength(3);
  });
});

/** What `doctor` sees: a fresh connector over the same state, never started. */
async function doctorCheck(h: Awaited<ReturnType<typeof whatsappGateway>>['h']) {
  const doctor = createWhatsapp({ name: 'whatsapp', config: { enabled: true, streamEdits: false }, gateway: h.config, resolve: () => '', store: h.store, access: NO_ACCESS_CHANGES, sealed: h.sealed, log: pino({ level: 'silent' }), dataDir: '/nonexistent', now: Date.now });
  return (await doctor.check!())[0];
}

describe('whatsapp link', () => {
  it('reconnects after a drop with growing, capped, jittered backoff, never in a tight loop', async () => {
    const { h, current, sockets } = await whatsappGateway(cleanup, { backoff: { baseMs: 40, maxMs: 160, random: () => 0.5 } });
    for (let i = 0; i < 4; i++) {
      current().close(DisconnectReason.connectionLost);
      await h.until(() => sockets.length === i + 2);
    }
    const delays = (await audited(h, 'connector.reconnecting')).map((e) => JSON.parse(e.data).delayMs);
    // base·2^n capped at max, then 75 % of it (jitter 0.5 → 50 % + 25 %).
    expect(delays).toEqual([30, 60, 120, 120]);
    const gaps = sockets.slice(1).map((s, i) => s.createdAt - sockets[i]!.createdAt);
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(delays[i]! - 5);
    // Connected again: the backoff starts over, and the new socket answers.
    current().open();
    current().close(DisconnectReason.connectionClosed);
    await h.until(() => sockets.length === 6);
    expect((await audited(h, 'connector.reconnecting')).map((e) => JSON.parse(e.data).delayMs).at(-1)).toBe(30);
    current().open();
    current().upsert(fixture('dm-conversation'));
    await h.until(() => current().sent.length === 1);
    expect(sockets.slice(0, -1).every((s) => s.ended || s.sent.length === 0)).toBe(true);
  });

  it('reconnects at once when WhatsApp asks for a restart after the QR scan (515), without growing the backoff', async () => {
    const { h, current, sockets } = await whatsappGateway(cleanup, { backoff: { baseMs: 5_000, maxMs: 5_000, random: () => 1 } });
    current().close(DisconnectReason.restartRequired);
    await h.until(() => sockets.length === 2, 1_000);
    expect((await audited(h, 'connector.reconnecting')).map((e) => JSON.parse(e.data))).toEqual([{ code: 515, attempt: 0, delayMs: 0 }]);
  });

  it('gives way when another client takes the link over (440), instead of kicking it off in turn; doctor says why', async () => {
    const { h, current, sockets } = await whatsappGateway(cleanup, { backoff: { baseMs: 10, maxMs: 10, random: () => 1 } });
    current().emit('creds.update', { me: { id: SELF.id, lid: SELF.lid, name: 'Assistant' }, registered: true });
    await h.until(async () => (await h.store.getConnectorState('whatsapp', CREDS_KEY)) !== undefined);
    current().close(DisconnectReason.connectionReplaced);
    await h.until(async () => (await h.connector.check!())[0]?.ok === false);
    await sleep(200);
    expect(sockets).toHaveLength(1);
    expect((await h.connector.check!())[0]!.detail).toMatch(/another client took this link over .*code 440.*not reconnecting/);
    // A reply meanwhile is dead-lettered with the reason, not retried against a link that will not come back.
    await expect(h.connector.send({ v: 1, idempotencyKey: 'k440', eventId: 'e1', address: { platform: 'whatsapp', account: 'whatsapp', conversation: { id: ALICE, kind: 'dm' } }, text: 'hi', format: 'plain', kind: 'reply' }, new AbortController().signal)).rejects.toThrow(/another client took this WhatsApp link over \(440\)/);
  });

  it('tells a logout from a drop: no reconnect, audited, auth state dropped, check says re-link', async () => {
    const { h, current, sockets } = await whatsappGateway(cleanup, { backoff: { baseMs: 10, maxMs: 10, random: () => 1 } });
    current().emit('creds.update', { me: { id: SELF.id, lid: SELF.lid, name: 'Assistant' }, registered: true });
    await h.until(async () => (await h.store.getConnectorState('whatsapp', CREDS_KEY)) !== undefined);
    expect((await h.connector.check!())[0]).toMatchObject({ ok: true, what: 'whatsapp link' });
    current().close(DisconnectReason.loggedOut);
    await h.until(async () => (await audited(h, 'connector.logged_out')).length === 1);
    await sleep(200);
    expect(sockets).toHaveLength(1);
    expect(await audited(h, 'connector.reconnecting')).toEqual([]);
    const [check] = await h.connector.check!();
    expect(check).toMatchObject({ ok: false, what: 'whatsapp link' });
    expect(check!.detail).toMatch(/^logged out: re-link required/);
    expect(await h.store.getConnectorState('whatsapp', CREDS_KEY)).toBeNull();
    // `doctor` builds a fresh connector in another process and never starts it: it says the same.
    expect((await doctorCheck(h))!.detail).toMatch(/^logged out: re-link required/);
    // A reply for a logged-out account is dead-lettered, not retried forever.
    await expect(h.connector.send({ v: 1, idempotencyKey: 'k1', eventId: 'e1', address: { platform: 'whatsapp', account: 'whatsapp', conversation: { id: ALICE, kind: 'dm' } }, text: 'hi', format: 'plain', kind: 'reply' }, new AbortController().signal)).rejects.toThrow(/re-link required/);
  });

  it('says a stopped connector is not running rather than still open; a lost link or a logout stays on record after the stop', async () => {
    const { h, current } = await whatsappGateway(cleanup);
    current().emit('creds.update', { me: { id: SELF.id, lid: SELF.lid, name: 'Assistant' }, registered: true });
    current().open();
    await h.until(async () => /; open since /.test((await h.connector.check!())[0]!.detail));
    await h.stopConnector();
    const stopped = await doctorCheck(h);
    expect(stopped).toMatchObject({ ok: true, what: 'whatsapp link' });
    expect(stopped!.detail).toMatch(/^linked as 15550001111@s\.whatsapp\.net; the connector is not running \(stopped at \d{4}-/);

    // A link that was lost when the connector stopped still fails doctor.
    await h.startConnector();
    current().open();
    current().close(DisconnectReason.connectionLost);
    await h.until(async () => (await audited(h, 'connector.reconnecting')).length >= 1);
    await h.stopConnector();
    expect(await doctorCheck(h)).toMatchObject({ ok: false, detail: expect.stringContaining('connection lost') });

    await h.startConnector();
    current().close(DisconnectReason.loggedOut);
    await h.until(async () => (await audited(h, 'connector.logged_out')).length === 1);
    await h.stopConnector();
    expect((await doctorCheck(h))!.detail).toMatch(/^logged out: re-link required/);
  });

  it('says a connector not linked yet that cannot reach WhatsApp cannot reach it, not only that it waits for a scan', async () => {
    const { h, current } = await whatsappGateway(cleanup, { backoff: { baseMs: 5_000, maxMs: 5_000, random: () => 1 } });
    current().close(DisconnectReason.connectionLost);
    await h.until(async () => (await audited(h, 'connector.reconnecting')).length >= 1);
    expect(await doctorCheck(h)).toMatchObject({ ok: false, detail: expect.stringMatching(/^not linked, and WhatsApp cannot be reached: connection lost \(code 408, \d{4}-/) });
  });

  it('keeps the auth creds across a restart (stored in connector state, revived byte for byte)', async () => {
    const { h, current, sockets } = await whatsappGateway(cleanup);
    const first = current().auth;
    current().emit('creds.update', { me: { id: SELF.id, lid: SELF.lid }, registered: true });
    await first.keys.set({ 'pre-key': { '1': first.creds.signedIdentityKey }, session: { 'abc.0': Buffer.from('session-bytes') } });
    await h.until(async () => (await h.store.getConnectorState('whatsapp', CREDS_KEY)) !== undefined);
    // On disk the creds are sealed under the connector's key: no identity, no key material in the clear.
    const raw = await h.store.getConnectorState('whatsapp', CREDS_KEY);
    expect(raw).toMatchObject({ sealed: 1 });
    expect(JSON.stringify(raw)).not.toContain(SELF.id);
    const stored = (await h.sealed.getConnectorState('whatsapp', CREDS_KEY)) as string;
    expect(typeof stored).toBe('string');
    expect(JSON.parse(stored, BufferJSON.reviver).me.id).toBe(SELF.id);
    await h.stopConnector();
    await h.startConnector();
    const again = sockets[1]!.auth;
    expect(again.creds.me?.id).toBe(SELF.id);
    expect(Buffer.from(again.creds.noiseKey.private).equals(Buffer.from(first.creds.noiseKey.private))).toBe(true);
    expect(again.creds.advSecretKey).toBe(first.creds.advSecretKey);
    const keys = await again.keys.get('session', ['abc.0', 'missing']);
    expect(Buffer.from(keys['abc.0']!).toString()).toBe('session-bytes');
    expect(Object.keys(keys)).toEqual(['abc.0']);
    await again.keys.set({ session: { 'abc.0': null } });
    expect(await again.keys.get('session', ['abc.0'])).toEqual({});
    expect(Buffer.from((await again.keys.get('pre-key', ['1']))['1']!.public).equals(Buffer.from(first.creds.signedIdentityKey.public))).toBe(true);
  });

  it('shows a QR on the terminal and keeps it for the dashboard, never in the log', async () => {
    const { h, current, qrs } = await whatsappGateway(cleanup);
    current().emit('connection.update', { qr: '2@AbCdEfGhIjKlMnOpQrStUvWx,kEy1,kEy2,kEy3' });
    await h.until(() => qrs.length === 1);
    expect(qrs[0]).toMatch(/[▀▄█]/);
    expect(await h.sealed.getConnectorState('whatsapp', QR_KEY)).toMatchObject({ qr: '2@AbCdEfGhIjKlMnOpQrStUvWx,kEy1,kEy2,kEy3' });
    // It quotes the auth state's secret: the row holds it sealed, as the auth state itself.
    expect(JSON.stringify(await h.store.getConnectorState('whatsapp', QR_KEY))).not.toContain('AbCdEfGh');
    current().open();
    await h.until(async () => (await h.sealed.getConnectorState('whatsapp', QR_KEY)) === null);
  });

  it('never leaves a dead QR code for the dashboard: a lost connection, a stop and a start clear it', async () => {
    const { h, current } = await whatsappGateway(cleanup, { backoff: { baseMs: 5_000, maxMs: 5_000, random: () => 1 } });
    const qr = () => h.sealed.getConnectorState('whatsapp', QR_KEY);
    current().emit('connection.update', { qr: '2@first,k1,k2,k3' });
    await h.until(async () => (await qr()) !== null);
    current().close(DisconnectReason.connectionLost);
    await h.until(async () => (await qr()) === null);
    await h.stopConnector();
    // One left from a run that died without its stop: the next start clears it before anything else.
    await h.sealed.setConnectorState('whatsapp', QR_KEY, { qr: '2@stale,k1,k2,k3', at: '2026-11-20T00:00:00.000Z' });
    await h.startConnector();
    expect(await qr()).toBeNull();
  });
});
