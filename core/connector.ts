import { createHash } from 'node:crypto';
import type { AccessStore } from './access.js';
import type { Config } from './config.js';
import { dedupeKey, InvalidPayloadError, parseChannelEvent, type ChannelEvent } from './event.js';
import type { SendReply } from './outbound.js';
import type { JobInput, QueueDriver } from './queue.js';
import type { StateStore } from './sealed-state.js';
import type { Store } from './store.js';
import { CONTROL_QUEUE, eventPartition, INBOUND_QUEUE } from './session-worker.js';

/**
 * The one contract every connector implements, each in its own process. A connector normalizes its platform's
 * updates into ChannelEvents and calls `publish`; it acknowledges an update to its platform only after `publish`
 * resolved, because that is the moment the event is durably enqueued. It never answers its own messages or bots'.
 */
export interface Connector {
  readonly platform: string;
  /** Connects to the platform and starts receiving; resolves once receiving has begun. */
  start(io: ConnectorIO): Promise<void>;
  /** Posts one reply (split into parts as the platform needs); returns the platform's message ids in order. */
  send: SendReply;
  /** True when `send` can edit an earlier message (`SendOptions.replace`): streamed replies then grow in place. */
  readonly edits?: boolean;
  /** A webhook request handed over by the HTTP server (raw body, headers lower-cased); only webhook-mode connectors. */
  handleWebhook?(request: WebhookRequest): Promise<WebhookResponse>;
  /** Plain-words health for `doctor`: credentials valid (the platform's identity call), events arriving, … */
  check?(): Promise<Array<{ ok: boolean; what: string; detail: string }>>;
  /** Stops receiving; in-flight sends are drained by the runner first. */
  stop(): Promise<void>;
}

export interface ConnectorIO {
  /** Validates and durably enqueues; throws InvalidPayloadError (after enqueuing the valid ones) for bad events. */
  publish(events: unknown[]): Promise<ChannelEvent[]>;
  /**
   * The connector cannot go on (its platform refused it for good while running): the process stops and exits with
   * this error, so that its supervisor restarts it with backoff and doctor says why, instead of a process that runs
   * and hears nothing.
   */
  fail(error: Error): void;
}

export interface WebhookRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface WebhookResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** What a connector factory is given: its own config section and credentials, nothing of any other connector. */
export interface ConnectorDeps<C = unknown> {
  name: string;
  config: C;
  /** The whole gateway config, read-only: channel settings (requireMention), the assistant to hint. */
  gateway: Config;
  /** `secret:NAME` / `env:NAME` to value; only this connector's references resolve. */
  resolve(ref: string, field: string): string;
  /** `handledTurn`: whether a message's turn ended in silence, so "typing…" stops (core/typing.ts). */
  store: Pick<Store, 'appendAudit' | 'getConnectorState' | 'setConnectorState' | 'listConnectorState' | 'deleteConnectorState' | 'handledTurn'>;
  /** The run-time access changes, read only: no "typing…" for someone access will drop (see `admittedNow`). */
  access: Pick<AccessStore, 'overrides'>;
  /** The same state API, sealed under this connector's own key: for credentials a platform hands over at run time. */
  sealed: StateStore;
  log: ConnectorLog;
  dataDir: string;
  now(): number;
}

export interface ConnectorLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type ConnectorFactory<C = unknown> = (deps: ConnectorDeps<C>) => Connector;

/** The queue job id of an event: the same platform message always maps to the same job, so redelivery is a no-op. */
export const inboundJobId = (event: ChannelEvent): string =>
  createHash('sha256').update(dedupeKey(event)).digest('base64url').slice(0, 32);

/**
 * Validates raw events and enqueues them on `inbound` (on the control queue those `control` picks: an owner's
 * approval decisions). Invalid ones are audited and reported as one error after the valid ones were enqueued, so
 * one malformed update never costs its neighbours.
 */
export async function publishEvents(
  queue: Pick<QueueDriver, 'enqueue'>,
  store: Pick<Store, 'appendAudit'>,
  actor: string,
  raw: unknown[],
  /** Which events take the control queue (`isOwnerDecision(config)`): every caller says, so none forgets it. */
  control: (e: ChannelEvent) => boolean,
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
  const jobs: Record<typeof CONTROL_QUEUE | typeof INBOUND_QUEUE, JobInput[]> = { [CONTROL_QUEUE]: [], [INBOUND_QUEUE]: [] };
  for (const e of events) jobs[control(e) ? CONTROL_QUEUE : INBOUND_QUEUE].push({ id: inboundJobId(e), partition: eventPartition(e), payload: e });
  for (const [queueName, list] of Object.entries(jobs)) if (list.length > 0) await queue.enqueue(queueName, list);
  if (rejected.length > 0) {
    await store.appendAudit(rejected.map((e) => ({ kind: 'inbound.rejected', actor, data: { issues: e.issues } })));
    throw new InvalidPayloadError('channel event', rejected.flatMap((e) => e.issues));
  }
  return events;
}
