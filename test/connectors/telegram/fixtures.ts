import { readFileSync } from 'node:fs';
import { FAKE_BOT } from '../../fakes/telegram/server.js';

export type Json = Record<string, any>;

/** A documented Update shape from test/fixtures/telegram/, fresh each call. */
export function fixture(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../../fixtures/telegram/${name}.json`, import.meta.url), 'utf8')) as Json;
}

let messageId = 50_000;
/** A fixture's message with a fresh message_id and the given changes; update_id is left to the fake. */
export function message(name: string, changes: Json = {}, kind = 'message'): Json {
  const update = fixture(name);
  delete update.update_id;
  update[kind] = { ...update[kind], message_id: messageId++, ...changes };
  return update;
}

export const ADA = 1111111;
export const GROUP = -1001234567890;
export const FORUM = -1009876543210;
export const BOT = FAKE_BOT;

let chatSeq = 0;
/** A private chat of its own, so per-chat throttling in one test never slows another. */
export function dm(text: string, chat = ADA + 1000 * ++chatSeq): Json {
  return message('private-text', { text, chat: { id: chat, type: 'private', first_name: 'Ada' }, from: { id: chat, is_bot: false, first_name: 'Ada' } });
}
