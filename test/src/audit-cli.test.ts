import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cliInFreshDir, runCli } from '../helpers/cli.js';

const tmp = cliInFreshDir('mc-audit-cli-');
const { cli } = tmp;

describe('monkeyclaw audit', () => {
  it('audit verify exits 1 and names the first tampered entry', async () => {
    await cli(['chat', '--once'], 'one');
    await cli(['chat', '--once'], 'two');
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'));
    db.exec('DROP TRIGGER audit_log_no_update');
    db.prepare(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 3`).run();
    db.close();
    const v = await cli(['audit', 'verify']);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/BROKEN at entry 3/);
  });

  it('audit verify --expect takes the head it printed and exits 1 once entries were cut off the end', async () => {
    // An empty log has no head worth recording: verify does not advise one --expect would refuse.
    expect((await cli(['migrate'])).code).toBe(0);
    const empty = await cli(['audit', 'verify']);
    expect(empty).toMatchObject({ code: 0 });
    expect(empty.stdout).toMatch(/^audit log ok: 0 entries, head 0{64} \(nothing has run on .+ yet: is that the data dir\?\)$/m);
    expect(empty.stdout).not.toContain('--expect');
    await cli(['chat', '--once'], 'one');
    const v = await cli(['audit', 'verify']);
    const recorded = /record (\d+:[0-9a-f]{64})/.exec(v.stdout)?.[1];
    expect(recorded).toBeDefined();
    await cli(['chat', '--once'], 'two');
    expect(await cli(['audit', 'verify', '--expect', recorded!])).toMatchObject({ code: 0 });
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'));
    db.exec('DROP TRIGGER audit_log_no_delete');
    db.prepare('DELETE FROM audit_log WHERE seq >= 3').run();
    db.close();
    // The chain left holds, but a log whose guard was dropped is not vouched for.
    const unguarded = await cli(['audit', 'verify']);
    expect(unguarded.code).toBe(1);
    expect(unguarded.stdout).toMatch(/UNGUARDED: its triggers are not the append-only ones the gateway made \(audit_log_no_delete\); the chain of 2 entries holds/);
    // Nor is one whose trigger was put back under its name but neutered.
    const again = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'));
    again.exec(`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log WHEN 0 BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`);
    again.close();
    expect((await cli(['audit', 'verify'])).stdout).toMatch(/UNGUARDED.*\(audit_log_no_delete\)/);
    const cut = await cli(['audit', 'verify', '--expect', recorded!]);
    expect(cut.code).toBe(1);
    expect(cut.stdout).toMatch(new RegExp(`BROKEN at entry ${recorded!.split(':')[0]}: is missing: the log ends at entry 2`));
    const bad = await cli(['audit', 'verify', '--expect', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--expect must be SEQ:HASH/);
  });

  it('a trigger added to the log that keeps entries out of it: the action fails rather than go unrecorded, and verify exits 1', async () => {
    expect((await cli(['chat', '--once'], 'one')).code).toBe(0);
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'));
    db.exec(`CREATE TRIGGER zz_hide BEFORE INSERT ON audit_log WHEN NEW.kind NOT LIKE 'inbound.%' BEGIN SELECT RAISE(IGNORE); END`);
    db.close();
    // Each admin change commits with its entry or not at all.
    const set = await runCli(['secrets', 'set', 'HIDDEN'], { cwd: tmp.dir, input: 'a-value-long-enough-to-mask\n' });
    expect(set.code).toBe(1);
    expect(set.stderr).toContain('audit log: 1 of 1 entries were not written (a trigger on audit_log keeps them out');
    expect((await cli(['secrets', 'list'])).stdout).not.toContain('HIDDEN');
    expect((await cli(['access', 'allow', 'telegram:42'])).code).toBe(1);
    expect((await cli(['access', 'list'])).stdout).not.toContain('telegram:42');
    const key = await cli(['apikey', 'create', 'hidden']);
    expect(key).toMatchObject({ code: 1, stdout: '' });
    expect((await cli(['apikey', 'list'])).stdout).toBe('');
    const v = await cli(['audit', 'verify']);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/UNGUARDED: .*\(zz_hide\)/);
  });
});
