import type { Api } from 'grammy';
import type { Conversation } from '../../core/event.js';
import { type SilentTurn, TypingIndicator } from '../../core/typing.js';

/** A chat, or a forum topic in it: each shows its own "typing…". */
export type TypingPlace = Pick<Conversation, 'id' | 'threadId'>;

/** Telegram shows a chat action for about 5 seconds: it is refreshed a little sooner. */
export function telegramTyping(api: Api, silent: SilentTurn, refreshMs = 4_500): TypingIndicator<TypingPlace> {
  return new TypingIndicator<TypingPlace>({
    silent: (place, turn) => silent(place.id, turn),
    show: ({ id, threadId }) => api.sendChatAction(id, 'typing', threadId !== undefined ? { message_thread_id: Number(threadId) } : {}),
    keyOf: ({ id, threadId }) => `${id}/${threadId ?? ''}`,
    refreshMs,
  });
}
