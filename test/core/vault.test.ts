import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { keyFile, loadMasterKey, MasterKeyError, parseMasterKey, pendingKeyFile, writeKeyFile } from '../../core/master-key.js';
import { Redactor } from '../../core/redactor.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { CorruptSecretError, SecretNameError, Vault, WrongMasterKeyError } from '../../core/vault.js';
import { openVault } from '../../src/credentials.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<{ remove(): void }> = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  dirs.splice(0).forEach((d) => d.remove());
});

async function setup() {
  const tmp = tempDir('mc-vault-');
  dirs.push(tmp);
  const file = join(tmp.dir, 'monkeyclaw.db');
  const store = new SqliteStore(file);
  stores.push(store);
  await store.migrate();
  const make = async (key: Buffer) => {
    const v = new Vault(store.vaultStore(), key, (e) => store.appendAudit(e), 'test');
    await v.unlock();
    return v;
  };
  return { dir: tmp.dir, file, store, make };
}

describe('vault', () => {
  it('round-trips values, with a fresh nonce per write and no plaintext in the database', async () => {
    const { file, make } = await setup();
    const vault = await make(randomBytes(32));
    await vault.set('TELEGRAM_TOKEN', '123456789:AAH-secret-value-xyz');
    const db = new Database(file, { readonly: true });
    const first = db.prepare('SELECT nonce FROM secrets').pluck().get() as Buffer;
    await vault.set('TELEGRAM_TOKEN', '123456789:AAH-secret-value-xyz');
    const second = db.prepare('SELECT nonce FROM secrets').pluck().get() as Buffer;
    expect(first.equals(second)).toBe(false);
    expect(await vault.get('TELEGRAM_TOKEN')).toBe('123456789:AAH-secret-value-xyz');
    expect(await vault.get('MISSING')).toBeUndefined();
    const dump = (db.prepare('SELECT * FROM secrets').all() as Array<Record<string, unknown>>).map((r) => Buffer.from(r.ciphertext as Buffer).toString('latin1')).join('');
    expect(dump).not.toContain('secret-value');
    db.close();
  });

  it('audits every access by name, never by value', async () => {
    const { store, make } = await setup();
    const vault = await make(randomBytes(32));
    await vault.set('API_KEY', 'value-that-must-not-appear');
    await vault.get('API_KEY');
    await vault.remove('API_KEY');
    const entries = await store.auditTail(10);
    expect(entries.map((e) => `${e.kind}:${e.subject}`)).toEqual(['secret.set:API_KEY', 'secret.read:API_KEY', 'secret.removed:API_KEY']);
    expect(JSON.stringify(entries)).not.toContain('value-that-must-not-appear');
  });

  it('refuses a wrong master key before touching anything', async () => {
    const { make } = await setup();
    await (await make(randomBytes(32))).set('A', 'value-1');
    await expect(make(randomBytes(32))).rejects.toBeInstanceOf(WrongMasterKeyError);
  });

  it('detects a corrupted ciphertext (GCM tag) and a ciphertext moved to another name (bound name)', async () => {
    const { file, make } = await setup();
    const vault = await make(randomBytes(32));
    await vault.set('ONE', 'first-value');
    await vault.set('TWO', 'second-value');
    const db = new Database(file);
    const row = db.prepare(`SELECT nonce, ciphertext FROM secrets WHERE name = 'ONE'`).get() as { nonce: Buffer; ciphertext: Buffer };
    db.prepare(`UPDATE secrets SET nonce = ?, ciphertext = ? WHERE name = 'TWO'`).run(row.nonce, row.ciphertext);
    const flipped = Buffer.from(row.ciphertext);
    flipped[0]! ^= 1;
    db.prepare(`UPDATE secrets SET ciphertext = ? WHERE name = 'ONE'`).run(flipped);
    db.close();
    await expect(vault.get('ONE')).rejects.toBeInstanceOf(CorruptSecretError);
    await expect(vault.get('TWO')).rejects.toThrow(/TWO does not decrypt/);
  });

  it('refuses secret names with path or shell characters', async () => {
    const { make } = await setup();
    const vault = await make(randomBytes(32));
    for (const bad of ['../x', 'a/b', 'a b', '', 'x;rm', 'ünï']) await expect(vault.set(bad, 'v')).rejects.toBeInstanceOf(SecretNameError);
  });

  it('rotates atomically: the old key no longer opens it, the new one opens every secret', async () => {
    const { make } = await setup();
    const oldKey = randomBytes(32);
    const vault = await make(oldKey);
    await vault.set('A', 'alpha-value');
    await vault.set('B', 'beta-value');
    const newKey = randomBytes(32);
    expect(await vault.rotate(newKey)).toBe(2);
    await expect(make(oldKey)).rejects.toBeInstanceOf(WrongMasterKeyError);
    const reopened = await make(newKey);
    expect([await reopened.get('A'), await reopened.get('B')]).toEqual(['alpha-value', 'beta-value']);
  });

  it('finishes a rotation interrupted after the commit but before the key file was replaced', async () => {
    const { dir, store } = await setup();
    const env = process.env.MONKEYCLAW_MASTER_KEY;
    delete process.env.MONKEYCLAW_MASTER_KEY;
    try {
      const vault = (await openVault(dir, store, 'test', { create: true }))!;
      await vault.set('A', 'alpha-value');
      const newKey = randomBytes(32);
      writeKeyFile(pendingKeyFile(dir), newKey);
      await vault.rotate(newKey); // …and the process dies before the rename.
      const reopened = (await openVault(dir, store, 'test', { create: false }))!;
      expect(await reopened.get('A')).toBe('alpha-value');
      expect(existsSync(pendingKeyFile(dir))).toBe(false);
      expect(parseMasterKey(readFileSync(keyFile(dir), 'utf8'), 'x').equals(newKey)).toBe(true);
    } finally {
      if (env !== undefined) process.env.MONKEYCLAW_MASTER_KEY = env;
    }
  });

  it('creates the key file 0600 and refuses one readable by others; parses hex and base64 keys', async () => {
    const { dir } = await setup();
    const key = loadMasterKey(dir, {}, { create: true })!;
    expect(statSync(keyFile(dir)).mode & 0o777).toBe(0o600);
    expect(loadMasterKey(dir, {}, { create: false })!.key.equals(key.key)).toBe(true);
    chmodSync(keyFile(dir), 0o640);
    expect(() => loadMasterKey(dir, {}, { create: false })).toThrow(/readable by group or others/);
    const raw = randomBytes(32);
    expect(parseMasterKey(raw.toString('base64'), 'x').equals(raw)).toBe(true);
    expect(loadMasterKey(dir, { MONKEYCLAW_MASTER_KEY: raw.toString('hex') }, { create: false })!.source).toBe('env');
    expect(() => parseMasterKey('short', 'MONKEYCLAW_MASTER_KEY')).toThrow(MasterKeyError);
    writeFileSync(join(dir, 'x'), '');
  });
});

describe('redactor', () => {
  it('removes vault values (also JSON-escaped) and credential shapes', () => {
    const r = new Redactor();
    r.addSecret('pa"ss-word-1');
    const line = JSON.stringify({ msg: 'login pa"ss-word-1', token: 'xoxb-1234567890-abcdefghij', key: 'sk-abcdefghijklmnopqrstuvwxyz' });
    const clean = r.redact(line);
    expect(clean).not.toContain('ss-word-1');
    expect(clean).not.toContain('xoxb-1234567890');
    expect(clean).not.toContain('sk-abcdefghij');
    expect(r.redact('nothing secret here')).toBe('nothing secret here');
    // The gateway's own API keys are credentials too.
    expect(r.redact('key mc_8eq6xdMh_31mTgAbCdEfGhIjKlMnOpQrStUvWxYz0 pasted')).toBe('key [redacted] pasted');
    // A bot token's secret half, quoted without its public id, is still the secret.
    r.addSecret('7234567890:AAHk2mZqPlainSecretHalf_0123456789');
    expect(r.redact('bare=AAHk2mZqPlainSecretHalf_0123456789 id=7234567890')).toBe('bare=[secret] id=7234567890');
    // Quoted in another case, or without its kind prefix, it is still the secret.
    r.addSecret('xoxb-1111-2222-QuietCanaryValue');
    expect(r.redact('auth failed for XOXB-1111-2222-QUIETCANARYVALUE')).toBe('auth failed for [secret]');
    expect(r.redact('token 1111-2222-QuietCanaryValue refused')).toBe('token [secret] refused');
    // Put in a URL or a form, encoded for a header or dumped in hex, a value is still the secret.
    const v = 'S3cr3t/with+special=chars&x y~';
    r.addSecret(v);
    const b64 = (t: string, alphabet: BufferEncoding = 'base64') => Buffer.from(t).toString(alphabet);
    for (const shown of [
      'S3cr3t%2Fwith%2Bspecial%3Dchars%26x%20y~',
      'S3cr3t%2fwith%2bspecial%3dchars%26x%20y~',
      'S3cr3t%2Fwith%2Bspecial%3Dchars%26x+y%7E',
      'S3cr3t/with+special=chars&x%20y~',
      Buffer.from(v).toString('hex'),
      b64(v),
      b64(v).replace(/=+$/, ''),
      b64(v, 'base64url'),
    ]) {
      expect(r.redact(`x=${shown} end`), shown).toBe('x=[secret] end');
    }
    // Inside a longer base64 run, at each of the three alignments (a Basic header's `user:secret`).
    for (const user of ['alice', 'bob', 'carol1']) {
      const header = b64(`${user}:${v}`);
      expect(r.redact(header), user).toContain('[secret]');
      // What remains is the user's part and a group's worth at each edge, never the secret's own run.
      expect(r.redact(header).replace('[secret]', '').length, user).toBeLessThanOrEqual(Math.ceil(((user.length + 1) * 4) / 3) + 4);
    }
    // Too short to mask without blanking out words: `secrets set` warns of it.
    expect(Redactor.masks('Zq9x7')).toBe(false);
    r.addSecret('Zq9x7');
    expect(r.redact('key Zq9x7')).toBe('key Zq9x7');
    // Text still growing (a streamed draft) holds back an ending that may be a secret's start.
    r.addSecret('plain-words-vault-value');
    expect(r.redactGrowing('my key is plain-wor')).toBe('my key is ');
    expect(r.redactGrowing('my key is plain-words-vault-value and more')).toBe('my key is [secret] and ');
    expect(r.redactGrowing('a plain answer')).toBe('a plain ');
    expect(r.redactGrowing('a plain answer.\n')).toBe('a plain answer.\n');
    // A value with a short first word: that word, once its space follows, is still a value's start.
    r.addSecret('ab cdefgh-ij');
    expect(r.redactGrowing('it is ab ')).toBe('it is ');
    expect(r.redactGrowing('it is ab cd')).toBe('it is ');
    expect(r.redactGrowing('it is ab cdefgh-ij.\nnext one')).toBe('it is [secret].\nnext ');
    expect(r.redactGrowing('grab a ')).toBe('grab a ');
  });

  it('holds back the word still being written, and digit groups before it, until a pattern can see them whole', () => {
    const r = new Redactor();
    // A credential's start is not a credential yet: shown, it could never be taken back.
    expect(r.redactGrowing('export OPENAI_API_KEY=sk-proj-abcdefghijk')).toBe('export ');
    expect(r.redactGrowing('export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123 then')).toBe('export OPENAI_API_KEY=[redacted] ');
    expect(r.redactGrowing('card 4111 1111')).toBe('card ');
    expect(r.redactGrowing('card 4111-1111-11')).toBe('card ');
    expect(r.redactGrowing('in 2026 we')).toBe('in ');
    expect(r.redactGrowing('in 2026 we are')).toBe('in 2026 we ');
    expect(r.redactGrowing('IBAN GB82 WEST 1234 5698 7654')).toBe('');
    expect(r.redactGrowing('pay to GB82 WEST 12')).toBe('pay to ');
    expect(r.redactGrowing('pay to gb82 west 1234 56')).toBe('pay to ');
    expect(r.redactGrowing('to de89 [redacted:phone] x')).toBe('to ');
    expect(r.redactGrowing('call +44 20 79')).toBe('call ');
    // After punctuation as after a space, and a mask that a longer value may still take in.
    expect(r.redactGrowing('Your card: **4111 1111')).toBe('Your card: ');
    expect(r.redactGrowing('at (0044 20 7946')).toBe('at ');
    expect(r.redactGrowing('call +1 (555) 123-45')).toBe('call ');
    expect(r.redactGrowing('Transfer to DE89 3704 [redacted:phone] today')).toBe('Transfer to ');
    expect(r.redactGrowing('Call **[redacted:phone]** now and')).toBe('Call **[redacted:phone]** now ');
    expect(r.redactGrowing('line one 1234\nnext words')).toBe('line one 1234\nnext ');
    expect(r.redactGrowing('card:4111 1111 11')).toBe('');
    // Words with digits in them are words: a list of them streams word by word.
    expect(r.redactGrowing('word0 word1 word2')).toBe('word0 word1 ');
    expect(r.redactGrowing('I AM A CAT and')).toBe('I AM A CAT ');
    // An ending that may start a vault value and a word still being written: the earlier of the two holds.
    r.addSecret('https://hooks.example.org/T000/B000/XXXX');
    expect(r.redactGrowing('use ghp_abcdefghijklmnopqrstuvwxyzhttp')).toBe('use ');
    expect(r.redactGrowing('')).toBe('');
    // Each draft begins the next: a client shown the drafts as deltas sees every character once.
    const reply = 'Set it like: export KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD then run it.';
    const drafts = Array.from({ length: reply.length }, (_, n) => r.redactGrowing(reply.slice(0, n + 1)));
    const final = r.redact(reply);
    for (const [k, d] of drafts.entries()) expect(final.startsWith(d), `draft ${k}: ${d}`).toBe(true);
  });
});
