import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { managedHooksOff, openClaudeHooks } from '../../../core/backends/claude-hooks.js';
import { PROCESS_START } from '../../../core/process-identity.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('claude code hook directories', () => {
  it('sweeps, on the first call, the directories of calls whose process is gone, and removes its own on close', async () => {
    // A process that has exited, and one that runs: only the first one's directory may go.
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.once('exit', resolve));
    const gone = mkdtempSync(join(tmpdir(), `mc-hook-${child.pid}-1-`));
    const live = mkdtempSync(join(tmpdir(), `mc-hook-${process.pid}-${PROCESS_START}-`));
    const foreign = mkdtempSync(join(tmpdir(), 'mc-hook-unnamed'));
    made.push(gone, live, foreign);
    const hooks = await openClaudeHooks(() => undefined, 60);
    const own = dirname(hooks.args[1]!);
    expect(existsSync(gone)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(foreign)).toBe(true);
    expect(own).toMatch(new RegExp(`/mc-hook-${process.pid}-${PROCESS_START}-[^/]+$`));
    hooks.close();
    expect(existsSync(own)).toBe(false);
  });

  it("says when the machine's managed settings keep the gateway's hook from running", () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-managed-'));
    made.push(dir);
    const file = join(dir, 'managed-settings.json');
    expect(managedHooksOff(file)).toBeUndefined(); // none
    writeFileSync(file, JSON.stringify({ permissions: { deny: ['WebFetch'] } }));
    expect(managedHooksOff(file)).toBeUndefined();
    writeFileSync(file, JSON.stringify({ disableAllHooks: true }));
    expect(managedHooksOff(file)).toBe(`${file} sets disableAllHooks`);
    writeFileSync(file, JSON.stringify({ allowManagedHooksOnly: true }));
    expect(managedHooksOff(file)).toBe(`${file} sets allowManagedHooksOnly`);
  });
});
