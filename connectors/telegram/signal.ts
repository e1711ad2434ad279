import type { Api } from 'grammy';

/** grammy types its signals as the abort-controller polyfill's; it only duck-types them, so Node's own is fine. */
export type GrammySignal = NonNullable<Parameters<Api['sendMessage']>[3]>;
export const grammySignal = (signal: AbortSignal): GrammySignal => signal as unknown as GrammySignal;
