import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { publishEvents } from '../../core/connector.js';
import { PAIRING_LIMITS } from '../../core/access.js';
import { runCli, spawnCliKilledAfter } from '../helpers/cli.js';
import { telegramSide } from '../helpers/data-dir.js';
import { makeEvent, tempDir } from '../helpers/tmp.js';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe('pair and access commands against a running worker', () => {
  it('pair list shows the code as sent; approve takes effect on the next message without a restart; revoke likewise', async () => {
    const tmp = tempDir('mc-pair-');
    cleanup.push(() => tmp.remove());
    const cli = (...args: string[]) => runCli(args, { cwd: tmp.dir });
    await cli('migrate');
    // Nothing waiting: no lines on stdout, and a word on stderr, as every list command says it.
    expect(await cli('approvals', 'list')).toMatchObject({ code: 0, stdout: '', stderr: 'no tool calls waiting for an owner\n' });
    const { store, queue, sent, close } = telegramSide(join(tmp.dir, 'data'));
    cleanup.push(close);
    spawnCliKilledAfter(cleanup, ['worker'], { cwd: tmp.dir });
    const say = async (text: string) => {
      const before = sent.length;
      await publishEvents(queue, store, 'test', [makeEvent({ sender: { id: '4242', name: 'Grace Hopper', isBot: false }, conversation: { id: '4242', kind: 'dm' }, text })], () => false);
      for (let i = 0; i < 100 && sent.length === before; i++) await sleep(50);
      await sleep(150);
      return sent.slice(before).map((r) => r.text);
    };

    const [notice] = await say('hello');
    const code = /code: ([A-Z0-9]{8})/.exec(notice ?? '')?.[1];
    expect(code).toBeDefined();
    const list = await cli('pair', 'list');
    expect(list.stdout.trim()).toMatch(new RegExp(`^${code} telegram:4242 \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z Grace Hopper$`));

    // A name written to the store some other way than through the event schema still prints as one line.
    await store.accessStore().requestPairing({ platform: 'telegram', account: 'bot', senderId: '777', name: 'Eve\nABCD2345 telegram:4242 x Grace\u202e', now: Date.now() }, PAIRING_LIMITS);
    const lines = (await cli('pair', 'list')).stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.includes('telegram:777'))).toMatch(/ Eve ABCD2345 telegram:4242 x Grace$/);

    expect((await cli('pair', 'approve', code!)).code).toBe(0);
    expect(await say('now?')).toEqual(['now?']);
    expect((await cli('pair', 'approve', code!)).code).toBe(1);
    expect((await cli('pair', 'deny', 'NOPE2345')).code).toBe(1);

    expect((await cli('access', 'list')).stdout).toContain('telegram:4242\tallow\tpairing');
    expect((await cli('access', 'revoke', 'telegram:4242')).code).toBe(0);
    expect(await say('still?')).toEqual([]);
    expect(await cli('access', 'revoke', 'telegram:4242')).toMatchObject({ code: 1, stderr: expect.stringContaining('telegram:4242 is already revoked') });
    expect((await cli('access', 'allow', 'telegram:4242')).code).toBe(0);
    expect((await cli('access', 'allow', 'telegram:4242')).code).toBe(0);
    expect(await say('back')).toEqual(['back']);
    expect((await cli('access', 'allow', 'not an identity')).code).toBe(2);
    const username = await cli('access', 'allow', 'telegram:grace');
    expect(username.code).toBe(2);
    expect(username.stderr).toContain('a telegram identity must be a numeric user or chat id');
    expect((await cli('access', 'list')).stdout).not.toContain('telegram:grace');
    // The terminal, dashboard logins and API keys are admitted by the gateway's own authentication, not the allowlist.
    for (const command of ['allow', 'revoke']) {
      const local = await cli('access', command, 'api:k3y1dAb0');
      expect(local.code).toBe(2);
      expect(local.stderr).toContain('apikey revoke');
    }
    expect((await cli('access', 'list')).stdout).not.toContain('api:k3y1dAb0');
    // One stored before that rule can still be revoked.
    await store.accessStore().setOverride('api:0ld', 'allow', 'cli', []);
    expect((await cli('access', 'revoke', 'api:0ld')).code).toBe(0);
    // One stored before these rules existed can still be revoked.
    await store.accessStore().setOverride('telegram:@old', 'allow', 'cli', []);
    expect((await cli('access', 'revoke', 'telegram:@old')).code).toBe(0);
    expect((await cli('access', 'list')).stdout).toContain('telegram:@old\trevoke\tcli');
  }, 120_000);
});
