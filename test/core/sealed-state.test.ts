import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectorStateKey, resealConnectorState, sealedState, SealedStateError } from '../../core/sealed-state.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
async function store() {
  const tmp = tempDir('mc-sealed-');
  dirs.push(tmp);
  const s = new SqliteStore(join(tmp.dir, 'db'));
  await s.migrate();
  return s;
}

describe('sealed connector state', () => {
  it('stores values encrypted under the connector key and reads them back; another key cannot', async () => {
    const s = await store();
    const master = randomBytes(32);
    const wa = sealedState(s, connectorStateKey(master, 'whatsapp'));
    await wa.setConnectorState('whatsapp', 'auth:creds', { noiseKey: 'private-bytes-here' });
    expect(JSON.stringify(await s.getConnectorState('whatsapp', 'auth:creds'))).not.toContain('private-bytes-here');
    expect(await wa.getConnectorState('whatsapp', 'auth:creds')).toEqual({ noiseKey: 'private-bytes-here' });
    const other = sealedState(s, connectorStateKey(master, 'telegram'));
    await expect(other.getConnectorState('whatsapp', 'auth:creds')).rejects.toBeInstanceOf(SealedStateError);
    await wa.setConnectorState('whatsapp', 'auth:creds', null);
    expect(await wa.getConnectorState('whatsapp', 'auth:creds')).toBeNull();
    await s.close();
  });

  it('binds the entry name: a sealed value moved to another key does not open', async () => {
    const s = await store();
    const wa = sealedState(s, randomBytes(32));
    await wa.setConnectorState('whatsapp', 'a', 'secret-a');
    await s.setConnectorState('whatsapp', 'b', await s.getConnectorState('whatsapp', 'a'));
    await expect(wa.getConnectorState('whatsapp', 'b')).rejects.toThrow(/does not decrypt/);
    await s.close();
  });

  it('follows a master key rotation', async () => {
    const s = await store();
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
    await sealedState(s, connectorStateKey(oldKey, 'whatsapp')).setConnectorState('whatsapp', 'auth:creds', 'creds-v1');
    await s.setConnectorState('whatsapp', 'watermark', 42);
    expect(await resealConnectorState(s, oldKey, newKey)).toBe(1);
    expect(await sealedState(s, connectorStateKey(newKey, 'whatsapp')).getConnectorState('whatsapp', 'auth:creds')).toBe('creds-v1');
    expect(await s.getConnectorState('whatsapp', 'watermark')).toBe(42);
    await s.close();
  });
});
