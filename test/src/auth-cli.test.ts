import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../../core/auth.js';
import { keyFile } from '../../core/master-key.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { acquireLock, supervisorLock } from '../../src/lock.js';
import { cliInFreshDir, runCli } from '../helpers/cli.js';

const tmp = cliInFreshDir('mc-auth-');
const { cli } = tmp;

describe('admin and apikey commands', () => {
  it('sets the dashboard password from stdin, hashed with scrypt, refusing a short one', async () => {
    expect((await cli(['admin', 'set-password'], 'short\n')).code).toBe(2);
    const r = await cli(['admin', 'set-password'], 'correct horse battery staple\n');
    expect(r.code).toBe(0);
    const store = new SqliteStore(join(tmp.dir, 'data', 'monkeyclaw.db'));
    const hash = (await store.authStore().adminPasswordHash())!;
    expect(hash).toMatch(/^scrypt\$/);
    expect(hash).not.toContain('horse');
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', hash)).toBe(false);
    await store.close();
  });

  it('refuses stdin that is not UTF-8 or is far too long, storing nothing, rather than storing U+FFFD in its place', async () => {
    const latin1 = Buffer.from('\xe9t\xe9\xe9t\xe9\xe9t\xe9\xe9t\xe9', 'latin1');
    const bad = await runCli(['admin', 'set-password'], { cwd: tmp.dir, input: latin1 });
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('not UTF-8') });
    const secret = await runCli(['secrets', 'set', 'BIN'], { cwd: tmp.dir, input: Buffer.from([0x61, 0x62, 0xff, 0xfe, 0x80, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68]) });
    expect(secret).toMatchObject({ code: 2, stderr: expect.stringContaining('not UTF-8') });
    const huge = await runCli(['secrets', 'set', 'HUGE'], { cwd: tmp.dir, input: Buffer.alloc(3 * 1024 * 1024, 'a') });
    expect(huge).toMatchObject({ code: 2, stderr: expect.stringContaining('nothing was stored') });
    // Just over the vault's 1 MiB: read whole, then refused by the vault, as bad input all the same.
    const over = await runCli(['secrets', 'set', 'OVER'], { cwd: tmp.dir, input: Buffer.alloc(1024 * 1024 + 1, 'a') });
    expect(over).toMatchObject({ code: 2, stderr: expect.stringContaining('larger than 1 MiB') });
    expect((await cli(['secrets', 'list'])).stdout).not.toMatch(/BIN|HUGE|OVER/);
    const store = new SqliteStore(join(tmp.dir, 'data', 'monkeyclaw.db'));
    await store.migrate();
    expect(await store.authStore().adminPasswordHash()).toBeUndefined();
    await store.close();
    // The same characters as UTF-8 are a password like any other.
    expect((await cli(['admin', 'set-password'], latin1.toString('latin1'))).code).toBe(0);
  });

  it('at a terminal asks for the password twice, and changes nothing when the two differ', async () => {
    // `script` gives the command a terminal; each answer is typed once its prompt shows.
    const atTerminal = (answers: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const cli = join(import.meta.dirname, '../../dist/src/cli.js');
        const child = spawn('script', ['-qec', `${process.execPath} ${cli} admin set-password --data-dir ${join(tmp.dir, 'data')}`, '/dev/null']);
        let out = '';
        const prompts = [/password: $/, /again: $/];
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (prompts[0]?.test(out)) (prompts.shift(), child.stdin.write(`${answers.shift()}\r`));
        });
        child.on('exit', (code) => resolve({ code, out }));
      });
    const differ = await atTerminal(['correct horse battery', 'correct horse batterx']);
    expect(differ.code).toBe(2);
    expect(differ.out).toContain('the passwords do not match');
    expect(differ.out).not.toContain('horse');
    const store = () => new SqliteStore(join(tmp.dir, 'data', 'monkeyclaw.db'));
    const before = store();
    await before.migrate();
    expect(await before.authStore().adminPasswordHash()).toBeFalsy();
    await before.close();
    expect((await atTerminal(['correct horse battery', 'correct horse battery'])).code).toBe(0);
    const after = store();
    expect(await verifyPassword('correct horse battery', (await after.authStore().adminPasswordHash())!)).toBe(true);
    await after.close();
  }, 30_000);

  it('prints a new key once, alone on the last line; lists keys without it; revokes', async () => {
    const created = await cli(['apikey', 'create', 'ci-bot']);
    expect(created.code).toBe(0);
    const key = created.stdout.trimEnd().split('\n').at(-1)!;
    expect(key.length).toBeGreaterThanOrEqual(32);
    expect(key).not.toMatch(/\s/);
    const list = await cli(['apikey', 'list']);
    const [line] = list.stdout.trim().split('\n');
    const [id, name, createdAt] = line!.split(' ');
    expect(name).toBe('ci-bot');
    expect(new Date(createdAt!).toISOString()).toBe(createdAt);
    expect(list.stdout).not.toContain(key);
    expect(key).toContain(id!);
    expect((await cli(['apikey', 'revoke', id!])).code).toBe(0);
    expect((await cli(['apikey', 'revoke', id!])).code).toBe(1);
    expect((await cli(['apikey', 'list'])).stdout.trim()).toBe('');
    expect((await cli(['apikey', 'create', 'x', '--assistant', 'nobody'])).code).toBe(2);
    // A name with a space would make `id name created-at` four fields.
    expect((await cli(['apikey', 'create', 'with space'])).code).toBe(2);
  });

  it('revokes a key pasted whole without printing it back, and never echoes a credential typed into a bad flag', async () => {
    const key = (await cli(['apikey', 'create', 'pasted'])).stdout.trimEnd().split('\n').at(-1)!;
    const revoked = await cli(['apikey', 'revoke', key]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout + revoked.stderr).not.toContain(key);
    expect(revoked.stdout).toContain(key.split('_')[1]!);
    const again = await cli(['apikey', 'revoke', key]);
    expect(again.code).toBe(1);
    expect(again.stdout + again.stderr).not.toContain(key);
    // Mangled in the pasting (a space before it, its last character lost): still never printed back.
    const mangled = await cli(['apikey', 'revoke', ` ${key.slice(0, -1)}`]);
    expect(mangled.code).toBe(1);
    expect(mangled.stdout + mangled.stderr).not.toContain(key.split('_')[2]!.slice(0, 8));
    const typo = await cli(['secrets', 'set', 'A', '--value=sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAA']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown option '--value=[redacted]'");
  });
});

describe('secrets commands without their master key', () => {
  it('say the vault is sealed under a key that is not here, and never make a new key that would lock it', async () => {
    const stored = await cli(['secrets', 'set', 'A'], 'alpha-value');
    expect(stored.code).toBe(0);
    expect(stored.stderr).toBe('');
    // Stored, but the user is told a value that short is never masked.
    const short = await cli(['secrets', 'set', 'PIN'], 'Zq9x7');
    expect(short.code).toBe(0);
    expect(short.stderr).toMatch(/PIN is 5 characters long: values that short are not masked/);
    const keyPath = keyFile(join(tmp.dir, 'data'));
    expect(existsSync(keyPath)).toBe(true);
    rmSync(keyPath);
    for (const [args, input] of [[['secrets', 'list']], [['secrets', 'set', 'B'], 'beta-value']] as Array<[string[], string?]>) {
      const r = await cli(args, input);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/the vault holds secrets sealed under a master key that is not here/);
      expect(r.stderr).not.toMatch(/no secrets stored/);
      expect(existsSync(keyPath)).toBe(false);
    }
  });
});

describe('secrets rotate-key', () => {
  it('refuses while a gateway runs on the data dir (its processes hold the old key), and rotates once it is stopped', async () => {
    expect((await cli(['secrets', 'set', 'A'], 'alpha-value')).code).toBe(0);
    // This test process stands in for a running `start`.
    const release = acquireLock(supervisorLock(join(tmp.dir, 'data')));
    const refused = await cli(['secrets', 'rotate-key']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`(pid ${process.pid}) holds this data directory`);
    expect(refused.stderr).toContain('stop it, rotate, then start it again');
    release();
    expect((await cli(['secrets', 'rotate-key'])).stdout).toContain('re-encrypted 1 secret(s)');
  });
});
