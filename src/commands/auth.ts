import { failed, out, withStore } from './with-store.js';
import { allAssistantNames } from '../../core/assistant-settings.js';
import { API_KEY, hashPassword, MIN_PASSWORD_CHARS, newApiKey } from '../../core/auth.js';
import { UsageError } from '../errors.js';
import { readSecretInput } from '../prompt.js';
import type { GlobalOptions } from '../runtime.js';

export async function adminSetPassword(options: GlobalOptions): Promise<number> {
  const password = await readSecretInput('new dashboard password: ');
  if (password.length < MIN_PASSWORD_CHARS) throw new UsageError(`the password must have at least ${MIN_PASSWORD_CHARS} characters`);
  // Typed unseen, at a terminal it is asked twice: a typo would lock the owner out of the dashboard.
  if (process.stdin.isTTY && (await readSecretInput('again: ')) !== password) throw new UsageError('the passwords do not match; nothing was changed');
  const hash = await hashPassword(password);
  await withStore(options, async (store) => {
    await store.authStore().setAdminPasswordHash(hash, [{ kind: 'admin.password_set', actor: 'cli' }]);
  });
  out('dashboard password set; existing sessions were signed out');
  return 0;
}

// No spaces: `apikey list` prints `id name created-at` (DESIGN), one field each, for scripts splitting on whitespace.
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function apikeyCreate(name: string, options: GlobalOptions & { assistant?: string }): Promise<number> {
  if (!KEY_NAME.test(name)) throw new UsageError('a key name is 1–64 letters, digits, dots, dashes or underscores (no spaces: `apikey list` separates its fields by them)');
  const { id, key, hash } = newApiKey();
  await withStore(options, async (store, config) => {
    // Assistants made in the dashboard can be bound too.
    if (options.assistant && !(await allAssistantNames(config, store.settingsStore())).includes(options.assistant)) {
      throw new UsageError(`unknown assistant "${options.assistant}"`);
    }
    const assistant = options.assistant ?? null;
    await store.authStore().createApiKey({ id, name, assistant, hash }, [{ kind: 'apikey.created', actor: 'cli', subject: id, data: { name, assistant } }]);
  });
  process.stderr.write(`API key ${id} created; it is shown once, below:\n`);
  out(key);
  return 0;
}

export const apikeyList = (options: GlobalOptions) =>
  withStore(options, async (store) => {
    // Active keys only, exactly `id name created-at`: a revoked key is no longer a key.
    const active = (await store.authStore().listApiKeys()).filter((k) => !k.revokedAt);
    for (const k of active) out(`${k.id} ${k.name} ${k.createdAt}`);
    if (active.length === 0) process.stderr.write('no API keys\n');
    return 0;
  });

export const apikeyRevoke = (given: string, options: GlobalOptions) =>
  withStore(options, async (store) => {
    // The whole key pasted instead of its id names the key all the same; what looks like a key (even a mangled one:
    // a space, a character lost) is never printed back beyond its id.
    const trimmed = given.trim();
    const id = API_KEY.exec(trimmed)?.[1] ?? /^mc_([A-Za-z0-9]{1,8})/.exec(trimmed)?.[1] ?? trimmed;
    if (!(await store.authStore().revokeApiKey(id, [{ kind: 'apikey.revoked', actor: 'cli', subject: id }]))) {
      failed(`no active API key ${id}`);
      return 1;
    }
    out(`API key ${id} revoked`);
    return 0;
  });
