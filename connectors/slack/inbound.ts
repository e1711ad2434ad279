import type { ConnectorDeps, ConnectorIO } from '../../core/connector.js';
import { InvalidPayloadError } from '../../core/event.js';
import { normalize, type ParseContext } from './parse.js';

export type Outcome = 'published' | 'ignored' | 'rejected';

/**
 * The path every Events API payload takes, from Socket Mode and HTTP alike: normalize, then publish or audit.
 * It resolves only when the outcome is durable (enqueued or audited), which is when the caller may ack; a failure
 * to enqueue rejects, so the envelope stays un-acked and Slack delivers it again.
 */
export function createInbound(deps: Pick<ConnectorDeps, 'name' | 'store' | 'log' | 'now'>, io: ConnectorIO, ctx: ParseContext) {
  const actor = `connector:${deps.name}`;
  let lastMarked = 0;

  const audit = (kind: string, data: Record<string, unknown>, subject?: string) =>
    deps.store.appendAudit([{ kind, actor, ...(subject ? { subject } : {}), data }]);

  /** `doctor` reads when the last event arrived; written at most every 10 s. */
  async function markArrival(): Promise<void> {
    const now = deps.now();
    if (now - lastMarked < 10_000) return;
    lastMarked = now;
    await deps.store.setConnectorState(deps.name, 'lastEventAt', new Date(now).toISOString());
  }

  return {
    audit,
    async handle(payload: unknown): Promise<Outcome> {
      await markArrival();
      const result = await normalize(payload, ctx);
      if (result.kind === 'rejected') {
        deps.log.warn({ issues: result.issues, event: result.eventId }, 'slack: payload rejected');
        await audit('inbound.rejected', { issues: result.issues }, result.eventId);
        return 'rejected';
      }
      if (result.kind === 'ignored') {
        await audit(result.audit, { reason: result.reason }, result.eventId);
        return 'ignored';
      }
      try {
        await io.publish([result.event]);
        return 'published';
      } catch (error) {
        // publishEvents already audited it; redelivery could not make it valid.
        if (error instanceof InvalidPayloadError) return 'rejected';
        throw error;
      }
    },
  };
}

export type Inbound = ReturnType<typeof createInbound>;
