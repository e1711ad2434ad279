import type { Config } from './config.js';
import { PLATFORM_LIMITS } from './render/index.js';

const DEFAULT_STREAM_EDIT_MS = 1_000;
/** The gateway's own surfaces, which stream with no platform edit limit to keep: web chat and the OpenAI-compatible API. */
const SURFACE_STREAM_MS: Record<string, number> = { web: 200, api: 200 };

/** How often a growing reply may be edited on this connector; undefined when its replies are sent finished. */
export function streamEditInterval(config: Config, connector: string): number | undefined {
  if (SURFACE_STREAM_MS[connector] !== undefined) return SURFACE_STREAM_MS[connector];
  const section = (config.connectors as Record<string, { streamEdits?: boolean; streamEditMs?: number } | undefined>)[connector];
  return section?.streamEdits ? (section.streamEditMs ?? DEFAULT_STREAM_EDIT_MS) : undefined;
}

/** The message limit of a connector that streams: where its drafts stop growing. Undefined for the surfaces. */
export function streamDraftLimit(config: Config, connector: string, platform: string): number | undefined {
  const max = (PLATFORM_LIMITS as Record<string, { max: number } | undefined>)[platform]?.max;
  if (max === undefined) return undefined;
  const section = (config.connectors as Record<string, { maxMessageChars?: number } | undefined>)[connector];
  return section?.maxMessageChars ?? max;
}

/** What a streamed reply shows while the backend still writes. */
export type Format = 'plain' | 'markdown';

export interface DraftOptions {
  /** At most one draft per interval: the platform's edit rate. */
  intervalMs: number;
  /**
   * The platform's message limit: a draft this long fills the one message drafts edit, so later ones could only
   * repeat it and none is sent; the final reply posts the rest.
   */
  maxChars?: number;
  now(): number;
  /** The text as users may see it (the response and outbound plugs); undefined stops the drafts of this turn. */
  shape(text: string, format: Format): Promise<string | undefined>;
  publish(text: string, format: Format, seq: number): Promise<void>;
  onError(error: unknown): void;
}

export interface DraftStream {
  onDelta(piece: string, format: Format): void;
  /** A fallback starts the reply over: the next draft replaces what was shown. */
  onRestart(): void;
  /** No more drafts; resolves once the last one was handed on, so the final reply queues behind it. */
  close(): Promise<void>;
}

/**
 * Throttles a streamed reply into drafts: the first piece shows at once, then the text so far at most once per
 * interval. Drafts go out one after another, never overlapping, and an unchanged text is not sent again.
 */
export function draftStream(o: DraftOptions): DraftStream {
  let text = '';
  let format: Format = 'plain';
  let shown = '';
  let seq = 0;
  let last = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let queue = Promise.resolve();

  const flush = () => {
    timer = undefined;
    if (closed) return;
    last = o.now();
    const snapshot = text;
    const snapshotFormat = format;
    queue = queue
      .then(async () => {
        if (closed) return;
        const shaped = await o.shape(snapshot, snapshotFormat);
        if (shaped === undefined) return void (closed = true);
        if (shaped === shown || shaped.trim() === '') return;
        shown = shaped;
        if (o.maxChars !== undefined && shaped.length >= o.maxChars) closed = true;
        await o.publish(shaped, snapshotFormat, ++seq);
      })
      .catch(o.onError);
  };

  return {
    onDelta(piece, f) {
      if (closed) return;
      text += piece;
      format = f;
      if (timer) return;
      const wait = last + o.intervalMs - o.now();
      if (wait <= 0) flush();
      else timer = setTimeout(flush, wait);
    },
    onRestart() {
      text = '';
    },
    close() {
      closed = true;
      clearTimeout(timer);
      return queue;
    },
  };
}
