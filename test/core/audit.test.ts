import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../core/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

async function storeWithEntries(n: number) {
  const tmp = tempDir();
  dirs.push(tmp);
  const file = join(tmp.dir, 'monkeyclaw.db');
  const store = new SqliteStore(file);
  await store.migrate();
  for (let i = 0; i < n; i++) await store.appendAudit([{ kind: 'test.entry', actor: 'test', subject: `s${i}`, data: { i } }]);
  return { store, file };
}

describe('audit log', () => {
  it('chains entries and verifies them', async () => {
    const { store } = await storeWithEntries(5);
    const tail = await store.auditTail(5);
    expect(tail.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    for (let i = 1; i < tail.length; i++) expect(tail[i]!.prevHash).toBe(tail[i - 1]!.hash);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, entries: 5, head: tail[4]!.hash });
    // The chain's documented form, which logs written by earlier versions also have: any outside tool can check it.
    for (const e of tail) {
      const hashed = JSON.stringify([e.prevHash, e.seq, e.at, e.kind, e.actor, e.subject, e.data]);
      expect(e.hash).toBe(createHash('sha256').update(hashed).digest('hex'));
    }
    await store.close();
  });

  it('keeps order and chain when one append holds more entries than one INSERT takes', async () => {
    const { store } = await storeWithEntries(1);
    await store.appendAudit(Array.from({ length: 150 }, (_, i) => ({ kind: 'batch.entry', actor: 'test', data: { i } })));
    const tail = await store.auditTail(150);
    expect(tail.map((e) => JSON.parse(e.data).i)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    expect(await store.verifyAudit()).toMatchObject({ ok: true, entries: 151 });
    await store.close();
  });

  it('refuses UPDATE and DELETE through its triggers', async () => {
    const { store, file } = await storeWithEntries(2);
    const db = new Database(file);
    expect(() => db.prepare("UPDATE audit_log SET actor = 'x' WHERE seq = 1").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_log WHERE seq = 2').run()).toThrow(/append-only/);
    db.close();
    await store.close();
  });

  it('names the first tampered entry when the triggers were bypassed', async () => {
    const { store, file } = await storeWithEntries(6);
    const db = new Database(file);
    db.exec('DROP TRIGGER audit_log_no_update');
    db.prepare(`UPDATE audit_log SET data = '{"i":99}' WHERE seq = 4`).run();
    db.close();
    expect(await store.verifyAudit()).toMatchObject({ ok: false, badSeq: 4, entries: 3 });
    await store.close();
  });

  it('names a deleted entry as missing', async () => {
    const { store, file } = await storeWithEntries(4);
    const db = new Database(file);
    db.exec('DROP TRIGGER audit_log_no_delete');
    db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    db.close();
    expect(await store.verifyAudit()).toMatchObject({ ok: false, badSeq: 2 });
    await store.close();
  });

  it('finds an entry recorded earlier: missing when entries were cut off the end, different when the chain was rewritten', async () => {
    const { store, file } = await storeWithEntries(5);
    const head = await store.verifyAudit();
    if (!head.ok) throw new Error('fresh log does not verify');
    const recorded = { seq: head.headSeq, hash: head.head };
    expect(recorded.seq).toBe(5);
    await store.appendAudit([{ kind: 'test.entry', actor: 'test' }]);
    expect(await store.verifyAudit(recorded)).toMatchObject({ ok: true, entries: 6, headSeq: 6 });

    // Cut off the end: what is left is a valid chain, which only the recorded entry tells apart.
    const db = new Database(file);
    db.exec('DROP TRIGGER audit_log_no_delete');
    db.prepare('DELETE FROM audit_log WHERE seq >= 4').run();
    expect(await store.verifyAudit()).toMatchObject({ ok: true, entries: 3 });
    expect(await store.verifyAudit(recorded)).toMatchObject({ ok: false, badSeq: 5, reason: expect.stringMatching(/ends at entry 3/) });

    // Rewritten from entry 4 on with hashes that hold: the recorded entry 5 is no longer the same.
    for (const seq of [4, 5]) {
      const prev = db.prepare('SELECT hash FROM audit_log WHERE seq = ?').pluck().get(seq - 1) as string;
      const row = { at: new Date().toISOString(), kind: 'forged', actor: 'mallory', subject: null, data: '{}' };
      const hash = createHash('sha256').update(JSON.stringify([prev, seq, row.at, row.kind, row.actor, row.subject, row.data])).digest('hex');
      db.prepare('INSERT INTO audit_log (seq, at, kind, actor, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(seq, row.at, row.kind, row.actor, row.subject, row.data, prev, hash);
    }
    db.close();
    expect(await store.verifyAudit()).toMatchObject({ ok: true, entries: 5 });
    expect(await store.verifyAudit(recorded)).toMatchObject({ ok: false, badSeq: 5, reason: 'is not the entry recorded earlier: the chain was rewritten at or before it' });
    await store.close();
  });

  it('keeps one unbroken chain when two processes append at once', async () => {
    const { store, file } = await storeWithEntries(0);
    const storeModule = new URL('../../dist/core/sqlite/store.js', import.meta.url).href;
    const script = `const { SqliteStore } = await import(${JSON.stringify(storeModule)});
      const s = new SqliteStore(process.argv[1]);
      for (let i = 0; i < 200; i++) await s.appendAudit([{ kind: 'race', actor: String(process.pid) }]);
      await s.close();`;
    const run = () => new Promise<number | null>((resolve) => spawn(process.execPath, ['--input-type=module', '-e', script, file], { stdio: 'inherit' }).on('exit', resolve));
    expect(await Promise.all([run(), run()])).toEqual([0, 0]);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, entries: 400 });
    await store.close();
  });
});
