import { createHash } from 'node:crypto';
import { dedupeKey, InvalidPayloadError, parseChannelEvent, type ChannelEvent } from './event.js';
import type { QueueDriver } from './queue.js';
import type { SendReply } from './outbound.js';
import type { Store } from './store.js';
import { conversationPartition, INBOUND_QUEUE } from './session-worker.js';

/**
 * The one contract every connector process implements. A connector normalizes its platform's updates into
 * ChannelEvents and calls `publish`; it acknowledges an update to its platform only after `publish` resolved,
 * because that is the moment the event is durably enqueued.
 */
export interface Connector {
  readonly platform: string;
  start(io: ConnectorIO): Promise<void>;
  /** Posts one reply; returns the platform's message ids. */
  send: SendReply;
  stop(): Promise<void>;
}

export interface ConnectorIO {
  publish(events: unknown[]): Promise<ChannelEvent[]>;
}

/** The queue job id of an event: the same platform message always maps to the same job, so redelivery is a no-op. */
export const inboundJobId = (event: ChannelEvent): string =>
  createHash('sha256').update(dedupeKey(event)).digest('base64url').slice(0, 32);

/**
 * Validates raw events and enqueues them on `inbound`. Invalid ones are audited and reported as one error after
 * the valid ones were enqueued, so one malformed update never costs its neighbours.
 */
export async function publishEvents(
  queue: Pick<QueueDriver, 'enqueue'>,
  store: Pick<Store, 'appendAudit'>,
  actor: string,
  raw: unknown[],
): Promise<ChannelEvent[]> {
  const events: ChannelEvent[] = [];
  const rejected: InvalidPayloadError[] = [];
  for (const item of raw) {
    try {
      events.push(parseChannelEvent(item));
    } catch (error) {
      if (!(error instanceof InvalidPayloadError)) throw error;
      rejected.push(error);
    }
  }
  if (events.length > 0) {
    await queue.enqueue(
      INBOUND_QUEUE,
      events.map((e) => ({ id: inboundJobId(e), partition: conversationPartition(e), payload: e })),
    );
  }
  if (rejected.length > 0) {
    await store.appendAudit(rejected.map((e) => ({ kind: 'inbound.rejected', actor, data: { issues: e.issues } })));
    throw new InvalidPayloadError('channel event', rejected.flatMap((e) => e.issues));
  }
  return events;
}
