import type { AuditInput } from '../../core/audit.js';
import type { ConnectorDeps, ConnectorIO } from '../../core/connector.js';
import { dedupeKey, InvalidPayloadError, parseChannelEvent, type ChannelEvent } from '../../core/event.js';
import { admittedNow } from '../../core/access.js';
import { parseUpdate, type ParseContext } from './parse.js';
import type { TypingIndicator } from '../../core/typing.js';
import type { TypingPlace } from './typing.js';

export interface InboundDeps {
  deps: Pick<ConnectorDeps, 'name' | 'store' | 'access' | 'log' | 'gateway'>;
  io: ConnectorIO;
  parse: ParseContext;
  typing: TypingIndicator<TypingPlace>;
}

/** Counts since start, for the log and `check()`. */
export interface InboundCounts {
  published: number;
  rejected: number;
  unsupported: number;
}

/**
 * Turns a batch of raw updates into durably published events. Resolves with the next offset (past every update
 * seen, published or not) only once publish() resolved; throws — and so confirms nothing — if publishing failed.
 * Rejected and unsupported updates are audited and skipped: retrying them could never succeed.
 */
export function createInbound({ deps, io, parse, typing }: InboundDeps) {
  const actor = `connector:${deps.name}`;
  const counts: InboundCounts = { published: 0, rejected: 0, unsupported: 0 };

  /** A DM is always addressed; in a group the mention/reply rules of the group-gate plug decide (DESIGN). */
  const addressed = (e: ChannelEvent): boolean => {
    if (e.edited || e.sender.isBot) return false;
    if (e.conversation.kind === 'dm') return true;
    const requireMention = deps.gateway.channels[`telegram:${e.conversation.id}`]?.requireMention ?? true;
    return !requireMention || e.mentionsBot || e.replyTo?.toBot === true;
  };

  let publishFailing = false;
  async function handle(raw: unknown[], sizes?: number[]): Promise<number | undefined> {
    const audits: AuditInput[] = [];
    const events: ChannelEvent[] = [];
    let next: number | undefined;
    raw.forEach((item, i) => {
      const parsed = parseUpdate(item, parse, sizes?.[i]);
      if (parsed.updateId !== undefined) next = Math.max(next ?? 0, parsed.updateId + 1);
      const subject = parsed.updateId !== undefined ? `update:${parsed.updateId}` : undefined;
      if (parsed.kind === 'unsupported') {
        counts.unsupported++;
        audits.push({ kind: 'inbound.unsupported', actor, ...(subject ? { subject } : {}), data: { type: parsed.type } });
        return;
      }
      if (parsed.kind === 'rejected') {
        counts.rejected++;
        audits.push({ kind: 'inbound.rejected', actor, ...(subject ? { subject } : {}), data: { issues: parsed.issues } });
        return;
      }
      try {
        events.push(parseChannelEvent(parsed.event));
      } catch (error) {
        if (!(error instanceof InvalidPayloadError)) throw error;
        counts.rejected++;
        audits.push({ kind: 'inbound.rejected', actor, ...(subject ? { subject } : {}), data: { issues: error.issues } });
      }
    });
    // Shown before the publish, so that a fast reply (which stops it) never comes before "typing…" starts; not while
    // publishing fails (the same batch comes back with each retry, and nothing will answer it yet).
    const typingIn = [];
    if (!publishFailing) for (const e of events) if (addressed(e) && (await admittedNow(deps.gateway.access, deps.access, e))) typingIn.push(e);
    for (const e of typingIn) typing.start(e.conversation, [dedupeKey(e)]);
    if (events.length > 0) {
      try {
        await io.publish(events);
        publishFailing = false;
      } catch (error) {
        // The valid ones are enqueued and the bad ones audited by publish itself: the batch is done.
        if (!(error instanceof InvalidPayloadError)) {
          for (const e of typingIn) typing.stop(e.conversation);
          publishFailing = true;
          throw error;
        }
      }
      counts.published += events.length;
    }
    if (audits.length > 0) {
      await deps.store.appendAudit(audits);
      deps.log.warn({ rejected: counts.rejected, unsupported: counts.unsupported }, 'telegram updates skipped (audited)');
    }
    return next;
  }

  return { handle, counts };
}
