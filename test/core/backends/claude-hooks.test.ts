import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openClaudeHooks } from '../../../core/backends/claude-hooks.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('claude code hook directories', () => {
  it('sweeps, on the first call, the directories of calls a killed worker left behind, and removes its own on close', async () => {
    const old = mkdtempSync(join(tmpdir(), 'mc-hook-'));
    const recent = mkdtempSync(join(tmpdir(), 'mc-hook-'));
    made.push(old, recent);
    const threeHoursAgo = (Date.now() - 3 * 3_600_000) / 1000;
    utimesSync(old, threeHoursAgo, threeHoursAgo);
    const hooks = await openClaudeHooks(() => undefined, 60);
    const own = dirname(hooks.args[1]!);
    expect(existsSync(old)).toBe(false);
    // Younger than any call can last: perhaps another worker's call in progress.
    expect(existsSync(recent)).toBe(true);
    expect(existsSync(own)).toBe(true);
    hooks.close();
    expect(existsSync(own)).toBe(false);
  });
});
