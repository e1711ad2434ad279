import type { Transformer } from 'grammy';
import type { PlatformWaits } from '../../core/platform-waits.js';

/**
 * Telegram's `retry_after` (429) for a chat, kept across restarts (core/platform-waits.ts). Installed innermost, it
 * sees every 429 the retry plugin then waits out, and makes a request to that chat wait for what is left: a long
 * wait is thrown (RetryLaterError) for the reply's job to wait out without holding up other chats' replies.
 */
export function floodWait(waits: PlatformWaits): Transformer {
  return async (prev, method, payload, signal) => {
    const chat = payload && typeof payload === 'object' && 'chat_id' in payload ? String(payload.chat_id) : undefined;
    // "typing…" after the wait would show for nothing: a chat action is let through (Telegram refuses it or not).
    if (chat === undefined || method === 'sendChatAction') return prev(method, payload, signal);
    // grammY declares an AbortSignal type of its own; at run time it is Node's.
    await waits.ready(chat, signal as unknown as AbortSignal | undefined);
    const result = await prev(method, payload, signal);
    if (!result.ok && result.error_code === 429 && typeof result.parameters?.retry_after === 'number') await waits.hold(chat, result.parameters.retry_after);
    return result;
  };
}
