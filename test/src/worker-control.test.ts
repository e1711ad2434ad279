import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config.js';
import { publishEvents } from '../../core/connector.js';
import { isOwnerDecision } from '../../core/session-worker.js';
import { runCli, spawnCliKilledAfter } from '../helpers/cli.js';
import { telegramSide } from '../helpers/data-dir.js';
import { makeEvent, tempDir } from '../helpers/tmp.js';
import { cleanups } from '../helpers/wait.js';

const cleanup = cleanups();
const FAKE_CLI = fileURLToPath(new URL('../fixtures/fake-agent-cli.mjs', import.meta.url));

describe('monkeyclaw worker and the control queue', () => {
  it("takes an owner's /approve from the control queue, while a turn of that conversation holds inbound", async () => {
    const tmp = tempDir('mc-control-');
    cleanup.push(() => tmp.remove());
    const raw = { access: { dm: 'open', owners: ['telegram:1'] }, assistants: { default: { pipelines: { inbound: ['access', 'commands'] } } } };
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.json'), JSON.stringify(raw));
    await runCli(['migrate'], { cwd: tmp.dir });
    const { store, queue, sent, close } = telegramSide(join(tmp.dir, 'data'));
    cleanup.push(close);
    const approvals = store.approvalStore();
    await approvals.create({ id: 'ABCDEF', assistant: 'default', tool: 'Bash', summary: 'git push', requester: 'telegram:1', eventId: 'e', createdAt: Date.now(), expiresAt: Date.now() + 60_000 });
    const owner = { sender: { id: '1', isBot: false }, conversation: { id: '1', kind: 'dm' as const } };
    // A job of the owner's conversation leased (held) on `inbound`, as a turn waiting for this approval holds it.
    await publishEvents(queue, store, 'test', [makeEvent({ ...owner, text: 'push it' })], () => false);
    const [held] = await queue.claim('inbound', 1);
    expect(held).toBeDefined();

    spawnCliKilledAfter(cleanup, ['worker'], { cwd: tmp.dir });
    await publishEvents(queue, store, 'test', [makeEvent({ ...owner, text: '/approve ABCDEF' })], isOwnerDecision(parseConfig(raw)));
    for (let i = 0; i < 200 && sent.length === 0; i++) await sleep(50);
    expect(sent.map((r) => r.text)).toEqual(['ABCDEF approved.']);
    expect((await approvals.get('ABCDEF'))?.status).toBe('approved');
  }, 30_000);
});

describe('monkeyclaw worker and tool approvals in a chat', () => {
  it.each([
    ['jsonl', 'shell', 'tool allowed'],
    // Asked by its PreToolUse hook, before the tool runs.
    ['claude-code', 'Bash', 'Let me look.\n\ndone looking'],
  ])('%s: tells the one who asked that the turn waits for an owner, and answers once an owner approves', async (flavor, tool, answer) => {
    const tmp = tempDir('mc-approval-');
    cleanup.push(() => tmp.remove());
    const raw = {
      access: { dm: 'open', owners: ['telegram:1'] },
      backends: { agent: { type: 'cli', flavor, command: process.execPath, args: [FAKE_CLI, flavor, 'tool'], timeoutMs: 30_000 } },
      assistants: { default: { backend: 'agent', tools: { approve: [tool], approvalTimeoutMs: 20_000 } } },
    };
    writeFileSync(join(tmp.dir, 'monkeyclaw.config.json'), JSON.stringify(raw));
    await runCli(['migrate'], { cwd: tmp.dir });
    const { store, queue, sent, close } = telegramSide(join(tmp.dir, 'data'));
    cleanup.push(close);
    spawnCliKilledAfter(cleanup, ['worker'], { cwd: tmp.dir });
    const asker = { sender: { id: '2', isBot: false }, conversation: { id: '2', kind: 'dm' as const } };
    await publishEvents(queue, store, 'test', [makeEvent({ ...asker, text: 'read my key' })], () => false);
    for (let i = 0; i < 200 && sent.length < 2; i++) await sleep(50);
    const [pending] = await store.approvalStore().pending(Date.now());
    expect(pending).toBeDefined();
    const to = (id: string) => sent.filter((r) => r.address.conversation.id === id).map((r) => r.text);
    expect(to('1')).toEqual([expect.stringContaining(`Approval needed (${pending!.id})`)]);
    expect(to('2')).toEqual([`Waiting for an owner to approve ${tool} (${pending!.id}); the answer follows once they decide.`]);
    await store.approvalStore().decide(pending!.id, 'approved', 'telegram:1', Date.now(), []);
    for (let i = 0; i < 200 && to('2').length < 2; i++) await sleep(50);
    expect(to('2').at(-1)).toBe(answer);
  }, 30_000);
});
