import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verdictLine } from '../../src/doctor.js';
import { terminalLine, terminalText } from '../../src/terminal-text.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('mc-terminal-');
});
afterEach(() => tmp.remove());

/** A line break and a forged log entry after it, then a clear-screen sequence: what a hostile server could send. */
const HOSTILE = 'bad\n{"level":30,"msg":"FORGED"}\u001b[2J';
const HOSTILE_SHOWN = 'bad\u240a{"level":30,"msg":"FORGED"}\u241b[2J';

describe('what the CLI prints to a terminal', () => {
  it('shows control characters as text: an escape sequence in a reply never reaches the terminal as one', async () => {
    // Echo repeats the message: the reply carries the sequences a backend could send.
    const r = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'red \u001b[31mRED\u001b[0m \u001b]0;title\u0007 done' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('red \u241b[31mRED\u241b[0m \u241b]0;title\u2407 done\n');
  });

  it('keeps tabs and line breaks in text, pictures them in a line, and pictures the rest of C0, DEL and C1 in both', () => {
    expect(terminalText('a\tb\nc')).toBe('a\tb\nc');
    expect(terminalLine('a\tb\nc')).toBe('a\u2409b\u240ac');
    expect(terminalText('over\rwrite\u007f\u009b2J\u0000')).toBe('over\u240dwrite\u2421\ufffd2J\u2400');
    expect(terminalText('plain text, émoji 😀')).toBe('plain text, émoji 😀');
  });

  it('a doctor verdict is one line, whatever a platform said in it', () => {
    expect(verdictLine({ ok: false, what: 'connector slack bot token', detail: `Slack refused the token (${HOSTILE})` })).toBe(
      `FAIL  connector slack bot token: Slack refused the token (${HOSTILE_SHOWN})`,
    );
  });

  it('a dead letter is one line in dlq list, whatever the platform said in its error', async () => {
    expect((await runCli(['migrate'], { cwd: tmp.dir })).code).toBe(0);
    const db = new Database(join(tmp.dir, 'data', 'monkeyclaw.db'));
    db.prepare('INSERT INTO queue_dead (queue, job_id, partition, payload, attempts, error, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run('outbound:telegram', 'j1', 'p', '{}', 10, `Telegram refused the message: ${HOSTILE}`, '2026-11-28T00:00:00.000Z');
    db.close();
    const r = await runCli(['dlq', 'list'], { cwd: tmp.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('1\toutbound:telegram\tj1\tattempts=10\t2026-11-28T00:00:00.000Z\tTelegram refused the message: bad {"level":30,"msg":"FORGED"}\u241b[2J\n');
  });

  it('an error is one line on stderr, whatever it quotes; a config error keeps one line per field', async () => {
    const failed = await runCli(['dlq', 'retry', HOSTILE], { cwd: tmp.dir });
    expect(failed).toMatchObject({ code: 1, stderr: `monkeyclaw: no dead-lettered job ${HOSTILE_SHOWN}\n` });
    writeFileSync(join(tmp.dir, HOSTILE.replace(/\//g, '')), '');
    const thrown = await runCli(['audit', 'tail', '--data-dir', HOSTILE.replace(/\//g, '')], { cwd: tmp.dir });
    expect(thrown.code).toBe(2);
    expect(thrown.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(thrown.stderr).not.toContain('\u001b');
    writeFileSync(join(tmp.dir, 'bad.json'), JSON.stringify({ server: { port: 'x' }, bogus: 1 }));
    const config = await runCli(['doctor', '--config', 'bad.json'], { cwd: tmp.dir });
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/is invalid:\n {2}server\.port: .*\n {2}bogus: unknown key\n$/);
  });
});
