import { InvalidPayloadError, parseReply, type Reply } from './event.js';
import { UnrecoverableJobError, type JobHandler } from './queue.js';
import type { Store } from './store.js';

/** A connector's platform send: returns the platform's ids of the messages it posted (one per chunk). */
export type SendReply = (reply: Reply, signal: AbortSignal) => Promise<string[]>;

/**
 * The connector side of every outbound queue: validate, record the intent, send, record the platform's ids.
 * A job whose reply was already sent is acknowledged without sending. The crash window left is the moment between
 * the platform's answer and the record; platforms with idempotency keys (Discord's nonce) close it.
 */
export function outboundHandler(store: Pick<Store, 'beginSend' | 'completeSend' | 'appendAudit'>, actor: string, send: SendReply): JobHandler {
  return async (job, signal) => {
    let reply: Reply;
    try {
      reply = parseReply(job.payload);
    } catch (error) {
      if (!(error instanceof InvalidPayloadError)) throw error;
      await store.appendAudit([{ kind: 'outbound.rejected', actor, subject: job.id, data: { issues: error.issues } }]);
      throw new UnrecoverableJobError(error.message);
    }
    const state = await store.beginSend(reply.idempotencyKey, reply.address.platform);
    if (state === 'sent') return;
    const ids = await send(reply, signal);
    await store.completeSend(reply.idempotencyKey, ids, [
      {
        kind: 'outbound.sent',
        actor,
        subject: reply.eventId,
        data: { key: reply.idempotencyKey, conversation: `${reply.address.platform}:${reply.address.conversation.id}`, parts: ids.length, resent: state === 'sending' },
      },
    ]);
  };
}
