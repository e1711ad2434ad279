import { readFileSync } from 'node:fs';

/** Receive notifications recorded in signal-cli's shapes (test/fixtures/signal/*.json). */

export const ALICE_UUID = 'a11ce000-1d2e-4f3a-8b4c-5d6e7f809102';
export const BOB_UUID = 'b0b00000-2e3f-4a5b-8c6d-7e8f90a1b2c3';
export const GROUP_ID = 'Pmpi+EfPWmsxiomLe9Nx2XF9HOE483p6iKiFj65iMwI=';

export type Fixture =
  | 'dm-text'
  | 'dm-attachment'
  | 'dm-edit'
  | 'dm-reaction'
  | 'group-plain'
  | 'group-mention'
  | 'group-mention-other'
  | 'group-quote-bot'
  | 'sync-sent'
  | 'typing'
  | 'receipt'
  | 'undecryptable';

interface Notification {
  jsonrpc: '2.0';
  method: 'receive';
  params: { account: string; envelope: Record<string, unknown> & { timestamp: number; dataMessage?: Record<string, unknown> } };
}

export function fixture(name: Fixture): Notification {
  return JSON.parse(readFileSync(new URL(`../../fixtures/signal/${name}.json`, import.meta.url), 'utf8')) as Notification;
}

let clock = 1_719_100_000_000;

/** A fixture as a new message: a fresh sent timestamp (so a new platform message id) and, optionally, other text. */
export function message(name: Fixture, patch: { text?: string; timestamp?: number } = {}): Notification {
  const n = fixture(name);
  const timestamp = patch.timestamp ?? ++clock;
  n.params.envelope.timestamp = timestamp;
  const data = n.params.envelope.dataMessage;
  if (data) {
    data.timestamp = timestamp;
    if (patch.text !== undefined) data.message = patch.text;
  }
  return n;
}
