import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { lockHolder, supervisorLock } from '../../src/lock.js';
import { exited, gatewayDir, hasExited, runCli, spawnCli, spawnCliKilledAfter } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { cleanups, until } from '../helpers/wait.js';

const cleanup = cleanups();


describe('monkeyclaw start', () => {
  it('stops, saying why, when its database is deleted under it: nothing more is taken from platforms into a file nobody reads', async () => {
    const tmp = await gatewayDir('mc-sup-gone-', []);
    cleanup.push(() => tmp.remove());
    const gateway = spawnCliKilledAfter(cleanup, ['start'], { cwd: tmp.dir });
    await until(() => gateway.output().includes('monkeyclaw started'), 30_000);
    rmSync(join(tmp.dir, 'data'), { recursive: true, force: true });
    const stopAt = Date.now();
    expect(await exited(gateway)).toBe(1);
    expect(Date.now() - stopAt).toBeLessThan(12_000);
    // Deleted, or already replaced by the empty one a restarted child made.
    expect(gateway.output()).toMatch(/monkeyclaw\.db was (deleted|replaced by another file).*the database this gateway opened is gone: stopping/);
  }, 60_000);

  it('serves health, restarts a SIGKILLed worker (audited), refuses a second supervisor, and stops within 10 s of SIGTERM', async () => {
    const tmp = tempDir('mc-sup-');
    cleanup.push(() => tmp.remove());
    const port = await freePort();
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), `server: { port: ${port} }\n`);
    const gateway = spawnCli(['start'], { cwd: tmp.dir });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });

    const health = await until(async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health`);
        return { status: r.status, body: await r.json() };
      } catch {
        return undefined;
      }
    });
    expect(health).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await fetch(`http://127.0.0.1:${port}/v1/models`)).status).toBe(401);

    const second = await runCli(['start'], { cwd: tmp.dir });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another monkeyclaw process \(pid \d+\) holds this data directory/);

    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'), { readonly: true });
    cleanup.push(() => void db.close());
    const workerPid = await until(() => db.prepare(`SELECT pid FROM heartbeats WHERE role = 'worker'`).pluck().get() as number | undefined);
    process.kill(workerPid, 'SIGKILL');
    const audited = await until(() => {
      const kinds = db.prepare(`SELECT kind FROM audit_log WHERE subject = 'worker' ORDER BY seq`).pluck().all() as string[];
      return kinds.length >= 4 ? kinds : undefined;
    });
    expect(audited).toEqual(['process.started', 'process.crashed', 'process.restarted', 'process.started']);

    // The restarted worker answers through the gateway.
    const reply = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'still there?' });
    expect(reply).toMatchObject({ code: 0, stdout: 'still there?\n' });
    // doctor names the restarted worker's own pid, not the gateway's.
    const doctor = (await runCli(['doctor'], { cwd: tmp.dir })).stdout;
    const named = Number(new RegExp(`process worker: running as pid (\\d+) under the gateway \\(pid ${gateway.pid}\\)`).exec(doctor)?.[1]);
    expect(named).not.toBe(workerPid);
    expect(() => process.kill(named, 0)).not.toThrow();

    const stopAt = Date.now();
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(lockHolder(supervisorLock(join(tmp.dir, 'data')))).toBeUndefined();
    expect((await runCli(['audit', 'verify'], { cwd: tmp.dir })).code).toBe(0);
  });

  it('stops in order on SIGHUP to its whole process group (the terminal that ran it closed), as on SIGTERM', async () => {
    const tmp = tempDir('mc-sup-');
    cleanup.push(() => tmp.remove());
    const port = await freePort();
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), `server: { port: ${port} }\n`);
    const gateway = spawnCli(['start'], { cwd: tmp.dir, detached: true });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        process.kill(-gateway.pid!, 'SIGKILL');
        await exited(gateway);
      }
    });
    await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.ok);
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'), { readonly: true });
    cleanup.push(() => void db.close());
    await until(() => db.prepare(`SELECT pid FROM heartbeats WHERE role = 'worker'`).pluck().get() as number | undefined);
    // To the supervisor and its children alike, and twice, as a closing terminal does (the shell, then the kernel).
    process.kill(-gateway.pid!, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 50));
    // A quick machine may have stopped the whole group already; a group that is gone has nothing left to hang up.
    try {
      process.kill(-gateway.pid!, 'SIGHUP');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    expect(await exited(gateway)).toBe(0);
    const kinds = db.prepare(`SELECT kind FROM audit_log WHERE actor = 'supervisor' ORDER BY seq`).pluck().all() as string[];
    expect(kinds.at(-1)).toBe('gateway.stopped');
    // The worker ignored the hang-up and drained when its supervisor told it to.
    expect(gateway.output()).toMatch(/"name":"worker".*"why":"SIGTERM".*"msg":"worker stopping"/);
  });

  it('exits 1 naming a port already in use, and leaves no socket behind in the data dir', async () => {
    const tmp = tempDir('mc-sup-');
    cleanup.push(() => tmp.remove());
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => taken.close(() => r())));
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), `server: { port: ${(taken.address() as AddressInfo).port} }\n`);
    const r = await runCli(['start'], { cwd: tmp.dir, timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`127.0.0.1:${(taken.address() as AddressInfo).port} is already in use by another program: stop it, or set another server.port in the config`);
    // Its queue's wake-up socket went with it (a later start would clean it up, but until then it is litter).
    expect(readdirSync(join(tmp.dir, 'data', 'run')).filter((f) => f.endsWith('.sock'))).toEqual([]);
    expect(lockHolder(supervisorLock(join(tmp.dir, 'data')))).toBeUndefined();
  });

  it('exits 1 naming server.host when that host name does not resolve', async () => {
    const tmp = tempDir('mc-sup-');
    cleanup.push(() => tmp.remove());
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), `server: { host: nonexistent.invalid, port: ${await freePort()}, allowPlainHttp: true }\n`);
    const r = await runCli(['start'], { cwd: tmp.dir, timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nonexistent\.invalid:\d+: no such host name \(server\.host in the config\)/);
  });

  it('refuses to start (exit 2) when a credential has no value, naming its field, before opening a port', async () => {
    const tmp = tempDir('mc-sup-');
    cleanup.push(() => tmp.remove());
    const port = await freePort();
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      `server: { port: ${port} }\nqueue: { driver: bullmq, redisUrl: env:MC_TEST_UNSET_REDIS }\nconnectors:\n  discord: { enabled: true, token: env:MC_TEST_UNSET_TOKEN }\n` +
        `backends:\n  a: { type: openai, baseUrl: 'http://127.0.0.1:9/v1', model: m, apiKey: env:MC_TEST_UNSET_KEY }\n  b: { type: openai, baseUrl: 'http://127.0.0.1:9/v1', model: m, apiKey: env:MC_TEST_UNSET_KEY }\n`,
    );
    const env = { MC_TEST_UNSET_TOKEN: '', MC_TEST_UNSET_REDIS: '', MC_TEST_UNSET_KEY: '' };
    const r = await runCli(['start'], { cwd: tmp.dir, env, timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    // Every missing one at once, each by its field.
    expect(r.stderr).toContain('queue.redisUrl: environment variable MC_TEST_UNSET_REDIS is not set');
    expect(r.stderr).toContain('connectors.discord.token: environment variable MC_TEST_UNSET_TOKEN is not set');
    // One variable behind two fields: both named, then why, once.
    expect(r.stderr).toContain('backends.a.apiKey, backends.b.apiKey: environment variable MC_TEST_UNSET_KEY is not set');
    // Every other command names the field too, and doctor calls it a setting, not an unreachable queue.
    const chat = await runCli(['chat', '--once'], { cwd: tmp.dir, env, input: 'hi' });
    expect([chat.code, chat.stderr]).toEqual([2, expect.stringContaining('queue.redisUrl: environment variable MC_TEST_UNSET_REDIS is not set')]);
    const doctor = await runCli(['doctor'], { cwd: tmp.dir, env });
    expect(doctor.stdout).toMatch(/FAIL {2}queue: queue\.redisUrl: environment variable MC_TEST_UNSET_REDIS is not set/);
    expect(r.stdout + r.stderr).not.toContain('monkeyclaw started');
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    // The data dir it created on the way (lock, database) is its owner's alone.
    for (const dir of ['data', 'data/run']) expect(statSync(join(tmp.dir, dir)).mode & 0o777, dir).toBe(0o700);
  });

  it('refuses to start (exit 2) when a credential has a value of the wrong form, naming its field, never the value', async () => {
    const tmp = tempDir('mc-sup-');
    cleanup.push(() => tmp.remove());
    const port = await freePort();
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      `server: { port: ${port} }\nconnectors:\n  telegram: { enabled: true, token: env:MC_TEST_TG, mode: webhook, apiRoot: http://127.0.0.1:9, webhook: { url: 'http://127.0.0.1:9/webhooks/telegram', secretToken: env:MC_TEST_TG_SECRET } }\n`,
    );
    const env = { MC_TEST_TG: '123:abc', MC_TEST_TG_SECRET: 'has spaces and ! marks' };
    const r = await runCli(['start'], { cwd: tmp.dir, env, timeoutMs: 15_000 });
    // Before: start ran, and the connector refused it, crashed and was restarted every few seconds.
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('connectors.telegram.webhook.secretToken: Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -');
    expect(r.stdout + r.stderr).not.toContain('has spaces');
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
