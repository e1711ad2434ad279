import type { ConnectorLog } from '../../core/connector.js';
import type { Conversation } from '../../core/event.js';

type Call = (method: string, params: Record<string, unknown>, timeoutMs: number) => Promise<unknown>;

/** Where a Signal message goes: a person by ACI (uuid) or a group by its base64 id. */
export const target = (c: Pick<Conversation, 'id' | 'kind'>): Record<string, unknown> => (c.kind === 'dm' ? { recipient: [c.id] } : { groupId: c.id });

/**
 * The typing indicator while the assistant works. Signal shows one for 15 s unless refreshed, so it is re-sent
 * every `refreshMs` until the reply goes out or `maxMs` passes (an event that is never answered — a sender the
 * access plug refuses — must not type forever). Failures only cost the indicator: logged, never thrown.
 */
export class Typing {
  private readonly active = new Map<string, { timer: NodeJS.Timeout; until: number }>();
  /** Conversations with a message being stored whose reply has not begun yet. */
  private readonly expected = new Set<string>();

  constructor(
    private readonly call: Call,
    private readonly log: ConnectorLog,
    private readonly now: () => number,
    private readonly refreshMs = 10_000,
    private readonly maxMs = 60_000,
  ) {}

  start(conversation: Pick<Conversation, 'id' | 'kind'>): void {
    this.stop(conversation.id);
    const send = () =>
      void this.call('sendTyping', target(conversation), 10_000).catch((error: Error) => this.log.debug({ error: error.message }, 'sendTyping failed'));
    const until = this.now() + this.maxMs;
    const timer = setInterval(() => (this.now() >= until ? this.stop(conversation.id) : send()), this.refreshMs);
    // Never what keeps the process alive: the connector stops every indicator when it stops.
    timer.unref();
    this.active.set(conversation.id, { timer, until });
    send();
  }

  /** A message for the conversation is being stored: typing may start for it once it is, see `startExpected`. */
  expect(conversationId: string): void {
    this.expected.add(conversationId);
  }

  /** Starts typing (when `show`) for a stored message, unless its reply began meanwhile (which stopped it). */
  startExpected(conversation: Pick<Conversation, 'id' | 'kind'>, show: boolean): void {
    if (this.expected.delete(conversation.id) && show) this.start(conversation);
  }

  /** A sent message ends the indicator on every client, so stopping the refresh is enough. */
  stop(conversationId: string): void {
    this.expected.delete(conversationId);
    const entry = this.active.get(conversationId);
    if (entry) clearInterval(entry.timer);
    this.active.delete(conversationId);
  }

  isActive(conversationId: string): boolean {
    return this.active.has(conversationId);
  }

  stopAll(): void {
    this.expected.clear();
    for (const id of [...this.active.keys()]) this.stop(id);
  }
}
