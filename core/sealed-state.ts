import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Store } from './store.js';

export type StateStore = Pick<Store, 'getConnectorState' | 'setConnectorState' | 'listConnectorState'>;

/**
 * A connector's own state key, derived from the master key: a connector process holds the key to its own sealed
 * state and nothing else (not the master key, not another connector's state).
 */
export const connectorStateKey = (masterKey: Buffer, connector: string): Buffer =>
  Buffer.from(hkdfSync('sha256', masterKey, Buffer.from('monkeyclaw'), Buffer.from(`connector-state:${connector}`), 32));

interface Sealed {
  sealed: 1;
  n: string;
  c: string;
}
const isSealed = (v: unknown): v is Sealed => typeof v === 'object' && v !== null && (v as Sealed).sealed === 1;

export class SealedStateError extends Error {
  override readonly name = 'SealedStateError';
}

/**
 * Connector state encrypted with AES-256-GCM under the connector's key, the connector and entry names bound as
 * associated data: credentials a platform hands a connector at run time (WhatsApp's multi-device auth state) are
 * kept like vault secrets, never as plaintext rows.
 */
export function sealedState(store: StateStore, key: Buffer): StateStore {
  const aad = (connector: string, name: string) => Buffer.from(`monkeyclaw:connector-state:v1:${connector}:${name}`);
  const seal = (connector: string, name: string, value: unknown): Sealed | null => {
    if (value === null || value === undefined) return null;
    const n = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, n);
    cipher.setAAD(aad(connector, name));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { sealed: 1, n: n.toString('base64'), c: body.toString('base64') };
  };
  const open = (connector: string, name: string, stored: unknown): unknown => {
    if (stored === null || stored === undefined) return stored;
    if (!isSealed(stored)) throw new SealedStateError(`${connector} state ${name} is not sealed`);
    const body = Buffer.from(stored.c, 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(stored.n, 'base64'));
      decipher.setAAD(aad(connector, name));
      decipher.setAuthTag(body.subarray(body.length - 16));
      return JSON.parse(Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8')) as unknown;
    } catch {
      throw new SealedStateError(`${connector} state ${name} does not decrypt (master key rotated or data altered)`);
    }
  };
  return {
    getConnectorState: async (connector, name) => open(connector, name, await store.getConnectorState(connector, name)),
    setConnectorState: (connector, name, value) => store.setConnectorState(connector, name, seal(connector, name, value)),
    listConnectorState: async (connector, prefix) =>
      (await store.listConnectorState(connector, prefix)).map((row) => ({ ...row, value: open(connector, row.key, row.value) })),
  };
}

/** For processes that have no state key (no vault yet): any use says so plainly. */
export const noSealedState = (why: string): StateStore => {
  const fail = async (): Promise<never> => {
    throw new SealedStateError(why);
  };
  return { getConnectorState: fail, setConnectorState: fail, listConnectorState: fail };
};

/** Re-seals every sealed entry of every connector under keys derived from a new master key (after `rotate-key`). */
export async function resealConnectorState(
  store: StateStore & { connectorsWithState(): Promise<string[]> },
  oldMaster: Buffer,
  newMaster: Buffer,
): Promise<number> {
  let count = 0;
  for (const connector of await store.connectorsWithState()) {
    const from = sealedState(store, connectorStateKey(oldMaster, connector));
    const to = sealedState(store, connectorStateKey(newMaster, connector));
    for (const row of await store.listConnectorState(connector, '')) {
      if (!isSealed(row.value)) continue;
      await to.setConnectorState(connector, row.key, await from.getConnectorState(connector, row.key));
      count++;
    }
  }
  return count;
}
