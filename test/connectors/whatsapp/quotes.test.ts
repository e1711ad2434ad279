import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
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
    const quotes = () => new Quotes({ name: 'whatsapp', store, sealed: sealedState(store, randomBytes(32)), now: () => now });
    const key = { remoteJid: GROUP, id: 'M1', fromMe: false };
    await quotes().keep(GROUP, 'M1', { key, message: {} }, 'hello');
    await quotes().prune();
    expect(await store.listConnectorState('whatsapp', QUOTE_PREFIX)).toHaveLength(1);
    now += 3 * 24 * 3_600_000;
    await quotes().prune();
    expect(await store.listConnectorState('whatsapp', QUOTE_PREFIX)).toHaveLength(0);
  });
});
