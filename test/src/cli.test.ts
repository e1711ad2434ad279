import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, symlinkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { startOpenAIFake } from '../fakes/openai-server.js';
import { CLI, cliInFreshDir, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

const tmp = cliInFreshDir('mc-cli-');
const { cli } = tmp;

describe('monkeyclaw CLI', () => {
  it('chat --once prints the echo reply and exits 0; audit verify passes afterwards', async () => {
    const r = await cli(['chat', '--once'], 'hello *world* <b>\n');
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'hello *world* <b>\n' });
    const v = await cli(['audit', 'verify']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/audit log ok: [1-9]\d* entries/);
    const tail = await cli(['audit', 'tail', '-n', '3']);
    expect(tail.stdout.trim().split('\n')).toHaveLength(3);
    expect(tail.stdout).toContain('outbound.sent');
    for (const n of ['0', '1e2', '0x10', '5.5']) expect((await cli(['audit', 'tail', '-n', n])).code).toBe(2);
  });

  it('chat --once refuses stdin that is not UTF-8, or far more than any message, sending nothing; a long message gets the notice', async () => {
    const latin1 = await runCli(['chat', '--once'], { cwd: tmp.dir, input: Buffer.from('caf\xe9', 'latin1') });
    expect(latin1).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('stdin is not UTF-8 text: nothing was sent') });
    const flood = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'x'.repeat(5 * 1024 * 1024) });
    expect(flood).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('that is no message; nothing was sent') });
    // Nothing of either reached the gateway: the audit log holds no inbound event yet.
    expect((await cli(['audit', 'tail', '-n', '50'])).stdout).not.toContain('inbound');
    const long = await cli(['chat', '--once'], 'y'.repeat(100_001));
    expect(long.code).toBe(0);
    expect(long.stdout).toMatch(/too long/i);
  });

  it('accepts global flags after the subcommand', async () => {
    const r = await cli(['chat', '--once', '--data-dir', join(tmp.dir, 'elsewhere')], 'x');
    expect(r.code).toBe(0);
    const v = await cli(['--data-dir', join(tmp.dir, 'elsewhere'), 'audit', 'verify']);
    expect(v.stdout).toMatch(/ok: [1-9]/);
  });

  it('exits 2 naming the bad field for an invalid config, before touching anything', async () => {
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), 'server: { port: 7420, colour: blue }\n');
    const r = await cli(['doctor']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('server.colour: unknown key');
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), 'connectors:\n  telegram: { enabled: true, token: "123456789:AAHfakefakefakefakefakefakefakefake12" }\n');
    const t = await cli(['chat', '--once'], 'x');
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/connectors\.telegram\.token: .*secret:NAME/);
    expect(t.stderr).not.toContain('AAHfake');
  });

  it('exits 2 for every command, even one that never reads it, when the config is missing, unknown plugs or a required token', async () => {
    for (const args of [['audit', 'verify'], ['secrets', 'list'], ['migrate']]) {
      const r = await cli([...args, '--config', 'nonexistent.yaml']);
      expect({ args, code: r.code, stderr: r.stderr }).toMatchObject({ code: 2, stderr: expect.stringContaining('does not exist') });
    }
    writeFileSync(join(tmp.dir, 'plug.yaml'), 'assistants:\n  default: { backend: echo, pipelines: { inbound: [access, nosuch] } }\n');
    const badOptions = '{ plug: rate-limit, perSender: "x" }, { plug: access, mode: strict }, { plug: redact, custom: [{ name: t, pattern: "(" }] }';
    writeFileSync(join(tmp.dir, 'options.yaml'), `assistants:\n  default: { backend: echo, pipelines: { inbound: [${badOptions}] } }\n`);
    writeFileSync(join(tmp.dir, 'token.yaml'), 'connectors:\n  discord: { enabled: true }\n');
    // A schema error elsewhere and a bad plug are reported together: one edit fixes both.
    writeFileSync(join(tmp.dir, 'both.yaml'), 'assistants:\n  default: { backend: nosuch, pipelines: { inbound: [access, teleport] } }\n');
    const both = await cli(['migrate', '--config', 'both.yaml']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('assistants.default.backend');
    expect(both.stderr).toContain('assistants.default.pipelines.inbound.1: unknown plug "teleport"');
    const [plug, options, token] = [
      await cli(['migrate', '--config', 'plug.yaml']),
      await cli(['doctor', '--config', 'options.yaml']),
      await cli(['migrate', '--config', 'token.yaml']),
    ];
    expect([plug.code, options.code, token.code]).toEqual([2, 2, 2]);
    expect(plug.stderr).toContain('assistants.default.pipelines.inbound.1: unknown plug "nosuch"');
    // A plug's options are checked at load like the rest of the config, not when a worker first builds the pipeline.
    expect(options.stderr).toMatch(/inbound\.0: plug "rate-limit": perSender: /);
    expect(options.stderr).toMatch(/inbound\.1: plug "access": options: .*mode/);
    expect(options.stderr).toMatch(/inbound\.2: plug "redact": custom\.0\.pattern: /);
    expect(token.stderr).toContain('connectors.discord.token: required');
    // A plug in a stage where it cannot do its job: /help would have gone to the backend first.
    writeFileSync(join(tmp.dir, 'stage.yaml'), 'assistants:\n  default: { pipelines: { response: [commands, redact], outbound: [group-gate, { plug: budget, dailyTokens: 5 }] } }\n');
    const stage = await cli(['migrate', '--config', 'stage.yaml']);
    expect(stage.code).toBe(2);
    expect(stage.stderr).toContain('assistants.default.pipelines.response.0: plug "commands" works in the inbound pipeline only, not response');
    expect(stage.stderr).toContain('assistants.default.pipelines.outbound.0: plug "group-gate" works in the inbound pipeline only, not outbound');
    expect(stage.stderr).toContain('assistants.default.pipelines.outbound.1: plug "budget" works in the inbound or request pipeline only, not outbound');
    expect(stage.stderr).not.toContain('pipelines.response.1');
  });

  it('exits 2 for an unknown command or a missing argument, 1 for an unknown dead letter', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['dlq', 'retry'])).code).toBe(2);
    // What was not found is said on stderr, as every error is: stdout carries results only.
    expect((await cli(['secrets', 'set', 'OTHER'], 'a-value-long-enough')).code).toBe(0);
    for (const [args, said] of [
      [['dlq', 'retry', '12345'], 'no dead-lettered job 12345'],
      [['apikey', 'revoke', 'nope'], 'no active API key nope'],
      [['secrets', 'rm', 'NOPE'], 'no secret NOPE'],
      [['access', 'revoke', 'telegram:1'], 'telegram:1 is not on the allowlist'],
      [['pair', 'approve', 'ABCDEFGH'], 'no pending pairing request ABCDEFGH'],
      [['approvals', 'approve', 'nope'], 'no pending approval nope'],
    ] as const) {
      expect(await cli([...args]), args.join(' ')).toMatchObject({ code: 1, stdout: '', stderr: expect.stringContaining(`monkeyclaw: ${said}`) });
    }
    expect(await cli(['secrets', 'rm', 'OTHER'])).toMatchObject({ code: 0, stdout: 'secret OTHER removed\n' });
    // An empty list is no lines, for scripts; a note on stderr says so.
    for (const [args, note] of [[['dlq', 'list'], 'no dead-lettered jobs'], [['pair', 'list'], 'no pairing requests pending'], [['apikey', 'list'], 'no API keys'], [['secrets', 'list'], 'no secrets stored']] as const) {
      const empty = await cli([...args]);
      expect(empty, args.join(' ')).toMatchObject({ code: 0, stdout: '', stderr: expect.stringContaining(note) });
    }
  });

  it('doctor passes on a fresh data dir, bringing it up to date like start would; migrate is idempotent', async () => {
    const fresh = await cli(['doctor']);
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/ok {4}database: .*applied 001_spine/);
    expect(fresh.stdout).toMatch(/ok {4}queue: embedded driver answers/);
    // History and audit live there: the data dir it created is its owner's alone.
    expect(statSync(join(tmp.dir, 'data')).mode & 0o777).toBe(0o700);
    // Another fresh data dir: migrate alone brings it up to date, once.
    expect((await cli(['migrate', '--data-dir', 'migrated'])).stdout).toMatch(/applied: 001_spine/);
    expect((await cli(['migrate', '--data-dir', 'migrated'])).stdout).toMatch(/up to date/);
    const d = await cli(['doctor', '--data-dir', 'migrated']);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/ok {4}queue: embedded driver answers/);
  });

  it('doctor fails a database damaged inside, where the header still looks right (it used to pass it, and start failed)', async () => {
    expect((await cli(['migrate'])).code).toBe(0);
    const file = join(tmp.dir, 'data', 'monkeyclaw.db');
    const db = new Database(file);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const page = db.pragma('page_size', { simple: true }) as number;
    const root = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'audit_log'").get() as { rootpage: number }).rootpage;
    db.close();
    const bytes = readFileSync(file);
    bytes.fill(0xff, (root - 1) * page, root * page);
    writeFileSync(file, bytes);
    const d = await cli(['doctor']);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/FAIL +database: .*monkeyclaw\.db is damaged: .+; restore it from a backup/);
  });

  it('doctor still says how much disk is free when the database will not even open (a full disk is a likely reason)', async () => {
    expect((await cli(['migrate'])).code).toBe(0);
    writeFileSync(join(tmp.dir, 'data', 'monkeyclaw.db'), 'this is no database, but a header would be here'.repeat(100));
    const d = await cli(['doctor']);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/FAIL +database: .*monkeyclaw\.db/);
    expect(d.stdout).toMatch(/ok +disk space: \d+ MiB free on the disk holding /);
  });

  it('doctor fails a database another process keeps locked, where every check that only reads passed', async () => {
    expect((await cli(['migrate'])).code).toBe(0);
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'));
    db.prepare('BEGIN IMMEDIATE').run();
    try {
      const d = await cli(['doctor']);
      expect(d.code).toBe(1);
      expect(d.stdout).toMatch(/FAIL +database writes: another process has held .*monkeyclaw\.db's write lock for over 2 s/);
      expect(d.stdout).toMatch(/ok +disk space: \d+ MiB free on the disk holding /);
    } finally {
      db.prepare('ROLLBACK').run();
      db.close();
    }
    expect((await cli(['doctor'])).stdout).toMatch(/ok +database writes: the write lock can be taken/);
  });

  it('is built executable: npx monkeyclaw runs the bin itself, and a file without x is "Permission denied"', () => {
    expect(statSync(CLI).mode & 0o111).not.toBe(0);
  });

  it('prints its version, and refuses a data dir that is a file with exit 2', async () => {
    const version = (JSON.parse(readFileSync(join(CLI, '../../../package.json'), 'utf8')) as { version: string }).version;
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
    writeFileSync(join(tmp.dir, 'not-a-dir'), '');
    const r = await cli(['audit', 'tail', '--data-dir', join(tmp.dir, 'not-a-dir')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the data dir .*not-a-dir is not a directory/);
    symlinkSync(join(tmp.dir, 'moved-away'), join(tmp.dir, 'dangling'));
    const dangling = await cli(['audit', 'tail', '--data-dir', join(tmp.dir, 'dangling')]);
    expect(dangling).toMatchObject({ code: 2, stderr: expect.stringMatching(/the data dir .*dangling is a link to .*moved-away, which does not exist/) });
    symlinkSync(join(tmp.dir, 'loop-b'), join(tmp.dir, 'loop-a'));
    symlinkSync(join(tmp.dir, 'loop-a'), join(tmp.dir, 'loop-b'));
    const loop = await cli(['audit', 'tail', '--data-dir', join(tmp.dir, 'loop-a')]);
    expect(loop).toMatchObject({ code: 2, stderr: expect.stringMatching(/the data dir .*loop-a cannot be used: too many symbolic links encountered \(--data-dir/) });
    // One that cannot be created is a usage error naming the flag, never a raw errno, and never a process spinning
    // (Node's recursive mkdir retries for ever under /proc).
    const file = join(tmp.dir, 'not-a-dir');
    const cases: [string, string][] = [[`${file}/data`, 'not a directory'], ['/proc/monkeyclaw-nope/data', 'no such file or directory']];
    for (const [dir, why] of cases) {
      const refused = await runCli(['audit', 'verify', '--data-dir', dir], { cwd: tmp.dir, timeoutMs: 15_000 });
      expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining(`cannot create the data dir ${dir}: `) });
      expect(refused.stderr).toMatch(new RegExp(`${why} \\(--data-dir, MONKEYCLAW_DATA_DIR\\)`));
    }
    // Missing parents are made as the dir is, owner-only.
    const deep = join(tmp.dir, 'a', 'b', 'data');
    expect((await cli(['migrate', '--data-dir', deep])).code).toBe(0);
    expect(statSync(join(tmp.dir, 'a', 'b')).mode & 0o777).toBe(0o700);
    expect(existsSync(join(deep, 'monkeyclaw.db'))).toBe(true);
    // An empty value (an unset shell variable) never puts the database in the current directory.
    expect(await cli(['migrate', '--data-dir', ''])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--data-dir: must name a directory/) });
    // Nor does an empty --config run the config found in the current directory, or none.
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), 'server: { port: 7421 }\n');
    expect(await cli(['access', 'list', '--config', ''])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--config: must name a file/) });
    const fromEnv = await runCli(['migrate'], { cwd: tmp.dir, env: { ...process.env, MONKEYCLAW_DATA_DIR: ' ' } });
    expect(fromEnv.code).toBe(0);
    expect(existsSync(join(tmp.dir, 'data', 'monkeyclaw.db'))).toBe(true);
    expect(existsSync(join(tmp.dir, 'monkeyclaw.db'))).toBe(false);
  });

  it('logs at warn why an agent backend could not start (sandbox: bwrap without bubblewrap)', async () => {
    writeFileSync(
      join(tmp.dir, 'monkeyclaw.config.yaml'),
      `backends: { agent: { type: cli, flavor: jsonl, command: ${JSON.stringify(process.execPath)}, sandbox: bwrap } }\nassistants: { default: { backend: agent } }\n`,
    );
    const r = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'hi', env: { ...process.env, PATH: tmp.dir, MONKEYCLAW_LOG_LEVEL: 'warn' } });
    expect(r.stderr).toMatch(/"kind":"spawn","detail":"backend agent: sandbox: bwrap, but bubblewrap \(bwrap\) is not installed/);
  });

  it('refuses a MONKEYCLAW_LOG_LEVEL that is not a level with exit 2, naming the variable', async () => {
    const r = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'hi', env: { ...process.env, MONKEYCLAW_LOG_LEVEL: 'bogus' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MONKEYCLAW_LOG_LEVEL: "bogus" is not a level; use one of fatal, error, warn, info, debug, trace, silent/);
    expect(await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'hi', env: { ...process.env, MONKEYCLAW_LOG_LEVEL: 'warn' } })).toMatchObject({ code: 0, stdout: 'hi\n' });
    // Commands that log nothing check it too: doctor is where a typo should show.
    expect(await runCli(['doctor'], { cwd: tmp.dir, env: { ...process.env, MONKEYCLAW_LOG_LEVEL: 'Debug' } })).toMatchObject({ code: 2, stderr: expect.stringMatching(/MONKEYCLAW_LOG_LEVEL: "Debug"/) });
  });

  it('start refuses a data dir others can write, and doctor fails it; one others can only list is a warning', async () => {
    const data = join(tmp.dir, 'data');
    mkdirSync(data);
    chmodSync(data, 0o777);
    const started = await cli(['start']);
    expect(started.code).toBe(2);
    expect(started.stderr).toMatch(/data dir: .*data is writable by group or others \(mode 777\): they could replace its database or master key; run chmod 700/);
    expect(readdirSync(data)).toEqual([]); // nothing read or written there first, not even the lock
    // Every other command refuses it too: a chat would run a worker on a database others may have put there.
    expect(await cli(['chat', '--once'], 'hi')).toMatchObject({ code: 2, stderr: expect.stringMatching(/data dir: .*writable by group or others/) });
    const failed = await cli(['doctor']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^FAIL {2}data dir: .*mode 777/m);
    expect(failed.stdout).toMatch(/^FAIL {2}database: not opened: fix the data dir first/m);
    expect(readdirSync(data)).toEqual([]); // doctor neither created nor migrated a database there
    // Nor does one connector's doctor, which would also read the vault there.
    const config = join(tmp.dir, 'telegram.json');
    writeFileSync(config, JSON.stringify({ connectors: { telegram: { enabled: true, token: 'env:TELEGRAM_TOKEN', apiRoot: 'http://127.0.0.1:9' } } }));
    const one = await cli(['doctor', '--connector', 'telegram', '--config', config]);
    expect(one.code).toBe(1);
    expect(one.stdout).toMatch(/^FAIL {2}data dir: .*mode 777/m);
    expect(one.stdout).toMatch(/^FAIL {2}connector telegram: not checked: fix the data dir first/m);
    expect(readdirSync(data)).toEqual([]);
    chmodSync(data, 0o755);
    const warned = await cli(['doctor']);
    expect(warned.code).toBe(0);
    expect(warned.stdout).toMatch(/^WARN {2}data dir: group or others can list .*mode 755/m);
  });

  it('doctor warns of a directory above the data dir where others could put a data dir of their own in its place', async () => {
    const parent = join(tmp.dir, 'shared');
    mkdirSync(join(parent, 'data'), { recursive: true, mode: 0o700 });
    const doctor = () => cli(['doctor', '--data-dir', join(parent, 'data')]);
    chmodSync(parent, 0o777);
    const open = await doctor();
    expect(open.code).toBe(0);
    expect(open.stdout).toMatch(/^WARN {2}data dir: .*shared, above .*data, is writable by others \(mode 777, no sticky bit\)/m);
    // The sticky bit (as on /tmp) keeps others from renaming what is not theirs.
    chmodSync(parent, 0o1777);
    expect((await doctor()).stdout).toMatch(/^ok {4}data dir: .*only its owner can enter it/m);
    // Group-writable with the user's own group (user private groups, umask 002) is no one else.
    chmodSync(parent, 0o770);
    expect((await doctor()).stdout).toMatch(/^ok {4}data dir: .*only its owner can enter it/m);
    // Another group's members could: as root, give the directory to another group.
    if (process.getuid?.() === 0) {
      chownSync(parent, 0, 4242);
      expect((await doctor()).stdout).toMatch(/^WARN {2}data dir: .*shared, above .*data, is writable by its group \(mode 770/m);
    }
  });

  it('doctor on a database file that is not one says so in its own verdict line', async () => {
    mkdirSync(join(tmp.dir, 'data'), { recursive: true });
    writeFileSync(join(tmp.dir, 'data', 'monkeyclaw.db'), randomBytes(8192));
    const r = await cli(['doctor']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ok {4}config: valid/m);
    expect(r.stdout).toMatch(/^FAIL {2}database: cannot open .*monkeyclaw\.db: file is not a database$/m);
    // Every other command names the file too; SQLite alone says only "file is not a database".
    const verify = await cli(['audit', 'verify']);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(/cannot open .*data\/monkeyclaw\.db: file is not a database/);
  });

  it('ends with its own exit code when the reader of its output goes away (| head), not an EPIPE crash', async () => {
    const child = spawn(process.execPath, [CLI, 'doctor'], { cwd: tmp.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Like `| head -0`: the reader is gone before doctor writes its lines.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });

  it('doctor fails on a TLS mode whose certificate files are missing, as start would', async () => {
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), 'server: { tls: { mode: mtls } }\n');
    const d = await cli(['doctor', '--data-dir', 'tls-data']);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/FAIL {2}server TLS: server\.tls\.mode is mtls but .*server\.key is missing: run `monkeyclaw certs ca`/);
  });

  it('doctor --connector on a fresh data dir brings it up to date, and says what a missing master key needs', async () => {
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), 'connectors:\n  whatsapp: { enabled: true }\n');
    const d = await cli(['doctor', '--connector', 'whatsapp', '--data-dir', 'wa-data']);
    expect(d.code).toBe(1);
    expect(d.stdout).not.toContain('no such table');
    expect(d.stdout).toContain('no master key: run `monkeyclaw start` once (it creates the vault key), or set MONKEYCLAW_MASTER_KEY');
  });

  it('doctor names a backend once in its verdict', async () => {
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), 'backends:\n  cc: { type: cli, flavor: claude-code, command: /nonexistent/claude }\n');
    const d = await cli(['doctor', '--data-dir', 'cc-data']);
    expect(d.code).toBe(1);
    expect(d.stdout).toContain('FAIL  backend cc: /nonexistent/claude is missing or not executable\n');
  });

  it('doctor says in plain words why each HTTP backend failed, and warns of a model its server does not list', async () => {
    const gpt = await startOpenAIFake();
    // Accepts connections and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const refused = await freePort();
    try {
      const silentPort = (silent.address() as AddressInfo).port;
      writeFileSync(
        join(tmp.dir, 'monkeyclaw.config.yaml'),
        'backends:\n' +
          `  typo: { type: openai, baseUrl: '${gpt.url}', model: fake-gtp }\n` +
          `  gone: { type: openai, baseUrl: 'http://127.0.0.1:${refused}/v1', model: m }\n` +
          `  mute: { type: anthropic, baseUrl: 'http://127.0.0.1:${silentPort}', model: m, apiKey: env:MC_TEST_KEY }\n`,
      );
      const d = await runCli(['doctor', '--data-dir', 'be-data'], { cwd: tmp.dir, env: { MC_TEST_KEY: 'sk-ant-test' }, timeoutMs: 40_000 });
      expect(d.code).toBe(1);
      expect(d.stdout).toContain('WARN  backend typo: reachable, but the server does not list model fake-gtp (it lists fake-gpt)\n');
      expect(d.stdout).toContain(`FAIL  backend gone: connection refused: nothing is listening at 127.0.0.1:${refused}\n`);
      expect(d.stdout).toContain(`FAIL  backend mute: no answer from 127.0.0.1:${silentPort} within 10 s\n`);
    } finally {
      silent.closeAllConnections();
      silent.close();
      await gpt.close();
    }
  }, 60_000);

  it('doctor fails in plain words when the queue is unreachable', async () => {
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.yaml'), 'queue: { driver: bullmq, redisUrl: "redis://127.0.0.1:1" }\n');
    await cli(['migrate']);
    const d = await cli(['doctor']);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/FAIL {2}queue: cannot reach the queue: Redis: connection refused: nothing is listening at 127\.0\.0\.1:1/);
  });
});
