import { BufferJSON, initAuthCreds, proto, type AuthenticationCreds, type AuthenticationState, type SignalDataTypeMap } from 'baileys';
import type { ConnectorDeps } from '../../core/connector.js';

type StateStore = Pick<ConnectorDeps['store'], 'getConnectorState' | 'setConnectorState' | 'listConnectorState'>;

export const CREDS_KEY = 'auth:creds';
const KEY_PREFIX = 'auth:key:';
const keyName = (type: string, id: string) => `${KEY_PREFIX}${type}:${id}`;

/** baileys' values hold Buffers/Uint8Arrays: BufferJSON turns them into JSON and back, byte for byte. */
const encode = (value: unknown): string => JSON.stringify(value, BufferJSON.replacer);
const decode = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value, BufferJSON.reviver) : undefined);

/**
 * The multi-device auth state (identity keys, signal sessions, pre-keys), never in a folder of plaintext JSON files
 * (baileys' useMultiFileAuthState): callers hand in the connector's sealed state, encrypted under its own key.
 */
export async function loadAuthState(store: StateStore, connector: string): Promise<{ state: AuthenticationState; saveCreds(): Promise<void> }> {
  const creds = (decode(await store.getConnectorState(connector, CREDS_KEY)) as AuthenticationCreds | undefined) ?? initAuthCreds();
  const saveCreds = () => store.setConnectorState(connector, CREDS_KEY, encode(creds));
  const state: AuthenticationState = {
    creds,
    keys: {
      async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
        const out: { [id: string]: SignalDataTypeMap[T] } = {};
        for (const id of ids) {
          let value = decode(await store.getConnectorState(connector, keyName(type, id)));
          if (value === undefined || value === null) continue;
          // baileys expects this one as its protobuf class, as its own file store does.
          if (type === 'app-state-sync-key') value = proto.Message.AppStateSyncKeyData.fromObject(value as object);
          out[id] = value as SignalDataTypeMap[T];
        }
        return out;
      },
      async set(data) {
        for (const [type, entries] of Object.entries(data)) {
          // A null value deletes the key: stored as null (the store has no delete), read back as absent.
          for (const [id, value] of Object.entries(entries ?? {})) await store.setConnectorState(connector, keyName(type, id), value ? encode(value) : null);
        }
      },
    },
  };
  return { state, saveCreds };
}

/** Whether stored creds belong to a linked device (a QR was scanned); unlinked creds only lead to a QR. */
export async function storedLink(store: StateStore, connector: string): Promise<{ id: string; lid?: string | undefined } | undefined> {
  const creds = decode(await store.getConnectorState(connector, CREDS_KEY)) as AuthenticationCreds | undefined;
  return creds?.me?.id ? { id: creds.me.id, lid: creds.me.lid } : undefined;
}

/** Forgets the auth state: after a logout WhatsApp has revoked it, and only a new QR links the account again. */
export async function clearAuthState(store: StateStore, connector: string): Promise<void> {
  await store.setConnectorState(connector, CREDS_KEY, null);
  for (const row of await store.listConnectorState(connector, KEY_PREFIX)) if (row.value !== null) await store.setConnectorState(connector, row.key, null);
}
