import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QUOTE_PREFIX, Quotes } from '../../../connectors/whatsapp/quotes.js';
import { sealedState } from '../../../core/sealed-state.js';
import { SqliteStore } from '../../../core/sqlite/store.js';
import { tempDir } from '../../helpers/tmp.js';
import { GROUP } from './helpers.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('whatsapp quotes kept across a restart', () => {
  it('drops, at a later start, the quotes whose reply never came', async () => {
    const tmp = tempDir('mc-quotes-');
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    cleanup.push(() => tmp.remove(), () => store.close());
    await store.migrate();
    let now = Date.now();
    const quotes = () => new Quotes({ name: 'whatsapp', store, sealed: sealedState(store, randomBytes(32)), now: () => now, log: pino({ level: 'silent' }) });
    const key = { remoteJid: GROUP, id: 'M1', fromMe: false };
    await quotes().keep(GROUP, 'M1', { key, message: {} }, 'hello');
    await quotes().prune();
    expect(await store.listConnectorState('whatsapp', QUOTE_PREFIX)).toHaveLength(1);
    now += 3 * 24 * 3_600_000;
    await quotes().prune();
    expect(await store.listConnectorState('whatsapp', QUOTE_PREFIX)).toHaveLength(0);
  });

  it('a running connector drops them too, round after round, until told to stop', async () => {
    const tmp = tempDir('mc-quotes-');
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    cleanup.push(() => tmp.remove(), () => store.close());
    await store.migrate();
    let now = Date.now();
    const quotes = new Quotes({ name: 'whatsapp', store, sealed: sealedState(store, randomBytes(32)), now: () => now, log: pino({ level: 'silent' }) });
    const kept = () => store.listConnectorState('whatsapp', QUOTE_PREFIX);
    const keep = (id: string) => quotes.keep(GROUP, id, { key: { remoteJid: GROUP, id, fromMe: false }, message: {} }, 'hello');
    const stop = quotes.pruneEvery(20);
    await keep('M1');
    now += 3 * 24 * 3_600_000;
    await vi.waitFor(async () => expect(await kept()).toHaveLength(0));
    await keep('M2');
    now += 3 * 24 * 3_600_000;
    await vi.waitFor(async () => expect(await kept()).toHaveLength(0));
    stop();
    await keep('M3');
    now += 3 * 24 * 3_600_000;
    await new Promise((r) => setTimeout(r, 100));
    expect(await kept()).toHaveLength(1);
  });

  it('leaves no row behind a reply that went out before its quote was kept, and a failing store costs only the quote', async () => {
    const tmp = tempDir('mc-quotes-');
    const store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
    cleanup.push(() => tmp.remove(), () => store.close());
    await store.migrate();
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
    const sealed = sealedState(store, randomBytes(32));
    const quotes = new Quotes({ name: 'whatsapp', store, sealed, now: Date.now, log });
    const quoted = { key: { remoteJid: GROUP, id: 'M1', fromMe: false }, message: {} };
    await quotes.forget(GROUP, 'M1');
    await quotes.keep(GROUP, 'M1', quoted, 'fast');
    expect(await store.listConnectorState('whatsapp', QUOTE_PREFIX)).toHaveLength(0);
    // The database refuses: nothing throws into the send or the inbound path.
    const broken = new Quotes({
      name: 'whatsapp',
      store: { ...store, deleteConnectorState: () => Promise.reject(new Error('locked')), listConnectorState: store.listConnectorState.bind(store) } as never,
      sealed: { ...sealed, setConnectorState: () => Promise.reject(new Error('locked')), getConnectorState: () => Promise.reject(new Error('locked')) },
      now: Date.now,
      log,
    });
    await broken.keep(GROUP, 'M2', { ...quoted, key: { ...quoted.key, id: 'M2' } }, 'text');
    expect(await broken.find(GROUP, 'M3')).toBeUndefined();
    await broken.forget(GROUP, 'M2');
    expect(warnings).toEqual(['whatsapp: could not keep a quote', 'whatsapp: could not read a quote', 'whatsapp: could not delete a quote']);
  });
});
