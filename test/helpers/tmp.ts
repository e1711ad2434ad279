import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ChannelEventInput } from '../../core/event.js';

/** A fresh directory per test, removed by the returned function. */
export function tempDir(prefix = 'mc-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A valid inbound event; override any field. */
export function makeEvent(overrides: Partial<ChannelEventInput> = {}): ChannelEventInput {
  return {
    v: 1,
    id: randomUUID(),
    platform: 'telegram',
    account: 'bot1',
    conversation: { id: '100', kind: 'dm' },
    sender: { id: '100', name: 'Ada', isBot: false },
    text: 'hello',
    platformMessageId: String(Math.floor(Math.random() * 1e9)),
    receivedAt: new Date().toISOString(),
    ...overrides,
  };
}
