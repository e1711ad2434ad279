import { randomUUID } from 'node:crypto';
import type { Connector, ConnectorIO } from '../../core/connector.js';
import { inboundText, type ChannelEvent, type Reply } from '../../core/event.js';
import { newEventId } from '../../core/ids.js';

/** The terminal's identity: already authenticated by being the local user (DESIGN: `loopback:local`). */
export const LOOPBACK_SENDER = 'local';

export interface LoopbackConnector extends Connector {
  readonly account: string;
  /** Sends one line as the terminal user; resolves once it is durably enqueued. */
  say(text: string): Promise<ChannelEvent>;
}

/**
 * The loopback connector: a terminal (or a test) talking through the full path. Each instance is its own connector
 * account with its own outbound queue, so two terminals never receive each other's replies.
 */
export function createLoopbackConnector(options: { account?: string; assistant?: string; onReply: (reply: Reply) => void }): LoopbackConnector {
  const account = options.account ?? randomUUID().slice(0, 12);
  let io: ConnectorIO | undefined;
  return {
    platform: 'loopback',
    account,
    async start(connectorIo) {
      io = connectorIo;
    },
    async say(text) {
      if (!io) throw new Error('loopback connector not started');
      const [event] = await io.publish([
        {
          v: 1,
          id: newEventId(),
          platform: 'loopback',
          account,
          // One conversation per assistant, so histories with different assistants never mix.
          conversation: { id: options.assistant ? `${LOOPBACK_SENDER}:${options.assistant}` : LOOPBACK_SENDER, kind: 'dm' },
          sender: { id: LOOPBACK_SENDER, name: 'terminal', isBot: false },
          ...inboundText(text),
          platformMessageId: newEventId(),
          receivedAt: new Date().toISOString(),
          ...(options.assistant ? { assistant: options.assistant } : {}),
        },
      ]);
      return event!;
    },
    async send(reply) {
      options.onReply(reply);
      return [reply.idempotencyKey];
    },
    async stop() {
      io = undefined;
    },
  };
}
