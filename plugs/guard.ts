import { z } from 'zod';
import { audit, halt, type Context, type Plug } from '../core/plug.js';

/**
 * Prompt-injection and hidden-content guard. It reads what its stage hands on: inbound, the user's text and
 * attachment names; request, every message the backend is sent; response and outbound, the reply. It flags instruction-override
 * phrasing and characters a human cannot see but a model reads: Unicode tag characters (used to smuggle whole
 * instructions), bidi overrides and isolates (text that reads differently than it displays) and zero-width runs.
 * `annotate` (default) records the findings in `ctx.assigns.guard` and the audit log, `strip` also removes the
 * hidden characters from what it read, `halt` stops the event (silently: no notice tells a prober what tripped).
 */

const HIDDEN_CLASSES = ['tag', 'bidi', 'zero-width'] as const;
export type HiddenClass = (typeof HIDDEN_CLASSES)[number];
export type GuardFinding =
  | { kind: 'override'; where: string; pattern: string }
  | { kind: 'hidden'; where: string; class: HiddenClass; count: number };

/** A small curated list; phrases are matched after hidden characters are removed and NFKC folds look-alikes. */
const OVERRIDES: Array<[id: string, re: RegExp]> = [
  ['ignore-previous', /\b(?:ignore|forget|override|skip)\s+(?:(?:all|any|the|your|of|my)\s+)*(?:previous|prior|above|earlier|preceding|former)\s+(?:instructions?|prompts?|rules|directions|guidelines|context|messages?)\b/i],
  ['disregard', /\bdisregard\s+(?:all|any|the|your|previous|prior|above|earlier|everything|those|these|my)\b/i],
  ['you-are-now', /\byou\s+are\s+now\s+(?:a|an|the|my|no\s+longer|acting|free|unrestricted|jailbroken|DAN)\b/i],
  ['system-prompt', /\b(?:new\s+)?system\s*prompt\s*:/i],
  ['new-instructions', /\bnew\s+instructions?\s*:/i],
  ['role-markup', /<\|im_start\|>|<\|(?:system|endoftext)\|>|\[\/?INST\]|<<\/?SYS>>/i],
  ['reveal-prompt', /\b(?:reveal|print|show|repeat|output)\s+(?:your|the)\s+(?:system\s+prompt|hidden\s+prompt|initial\s+instructions)\b/i],
  ['mode-switch', /\b(?:developer|god|DAN|jailbreak)\s+mode\b/i],
];

const TAG = /[\u{E0000}-\u{E007F}]/u;
const BIDI = /[\u202A-\u202E\u2066-\u2069]/;
/** Maximal runs of invisible characters of any of the three classes. */
const INVISIBLE_RUN = /[\u{E0000}-\u{E007F}\u202A-\u202E\u2066-\u2069\u200B-\u200D\u2060\uFEFF]+/gu;
/**
 * The RGI subdivision flags (England, Scotland, Wales) are the only emoji spelled with tag characters; they are
 * exempt. A lone ZWNJ/ZWJ between visible characters is how Persian, Indic scripts and emoji sequences are
 * written, so it is not hidden content; a run of two or more invisible characters is.
 */
const FLAG_TAGS = /\u{1F3F4}(?:\u{E0067}\u{E0062}(?:\u{E0065}\u{E006E}\u{E0067}|\u{E0073}\u{E0063}\u{E0074}|\u{E0077}\u{E006C}\u{E0073})\u{E007F})/gu;
const LONE_JOINER = /^[\u200C\u200D]$/;

const classOf = (ch: string): HiddenClass => (TAG.test(ch) ? 'tag' : BIDI.test(ch) ? 'bidi' : 'zero-width');
/** Runs of hidden characters, indexed into `text`: exempt flags are blanked with NULs of the same length first. */
const hiddenRuns = (text: string): RegExpExecArray[] =>
  [...text.replace(FLAG_TAGS, (f) => '\0'.repeat(f.length)).matchAll(INVISIBLE_RUN)].filter((m) => !LONE_JOINER.test(m[0]));

/** Removes what `findings` reports as hidden; nothing else. */
export function stripHidden(text: string): string {
  let out = '';
  let at = 0;
  for (const m of hiddenRuns(text)) {
    out += text.slice(at, m.index);
    at = m.index + m[0].length;
  }
  return out + text.slice(at);
}

export function findings(text: string, where: string): GuardFinding[] {
  const counts: Partial<Record<HiddenClass, number>> = {};
  for (const m of hiddenRuns(text)) for (const ch of m[0]) counts[classOf(ch)] = (counts[classOf(ch)] ?? 0) + 1;
  const out: GuardFinding[] = HIDDEN_CLASSES.flatMap((c) => (counts[c] ? [{ kind: 'hidden' as const, where, class: c, count: counts[c] }] : []));
  // Every invisible character goes before matching, so "ig\u200Bnore previous instructions" is still caught.
  const visible = text.normalize('NFKC').replace(INVISIBLE_RUN, '').replace(/\u00AD/g, '');
  for (const [pattern, re] of OVERRIDES) if (re.test(visible)) out.push({ kind: 'override', where, pattern });
  return out;
}

const optionsSchema = z.object({ mode: z.enum(['annotate', 'strip', 'halt']).default('annotate') }).strict();
export type GuardOptions = z.input<typeof optionsSchema>;
type State = z.infer<typeof optionsSchema>;

const describe = (f: GuardFinding): string => `${f.kind}:${f.kind === 'override' ? f.pattern : f.class} in ${f.where}`;
const reason = (found: GuardFinding[]): string =>
  describe(found[0]!) + (found.length > 1 ? ` (+${found.length - 1} more)` : '');

/** The findings in what the stage hands on. */
function scan(ctx: Context): GuardFinding[] {
  switch (ctx.stage) {
    case 'inbound':
      // A stateless caller's earlier messages (the API) are as new this turn as its last one.
      return [
        ...findings(ctx.text, 'text'),
        ...(ctx.event.context ?? []).flatMap((m, i) => findings(m.content, `context:${i}`)),
        ...ctx.event.attachments.flatMap((a, i) => (a.name ? findings(a.name, `attachment:${i}`) : [])),
      ];
    case 'request':
      return freshMessages(ctx).flatMap((i) => findings(ctx.messages[i]!.content, `message:${i}`));
    default:
      return ctx.reply ? findings(ctx.reply.text, 'reply') : [];
  }
}

/**
 * The backend request's messages that are new this turn: the user's message, and what a stateless caller brought
 * with it. Stored history was read when it was new; read again, one old reply quoting an override phrase would halt
 * every later turn. The assistant's own system prompt is the operator's.
 */
const freshMessages = (ctx: Context): number[] =>
  ctx.messages.flatMap((_, i) => (i === ctx.messages.length - 1 || (ctx.event.context && i > 0) ? [i] : []));

/** The context with the hidden characters removed from what the stage hands on. */
function strip(ctx: Context): Context {
  switch (ctx.stage) {
    case 'inbound': {
      const context = ctx.event.context?.map((m) => ({ ...m, content: stripHidden(m.content) }));
      return { ...ctx, text: stripHidden(ctx.text), ...(context ? { event: { ...ctx.event, context } } : {}) };
    }
    case 'request': {
      const fresh = new Set(freshMessages(ctx));
      return { ...ctx, messages: ctx.messages.map((m, i) => (fresh.has(i) ? { ...m, content: stripHidden(m.content) } : m)) };
    }
    default:
      return ctx.reply ? { ...ctx, reply: { ...ctx.reply, text: stripHidden(ctx.reply.text) } } : ctx;
  }
}

export const guardPlug: Plug<State, State> = {
  name: 'guard',
  options: optionsSchema,
  init: (options) => options,
  call(ctx, { mode }) {
    const found = scan(ctx);
    if (found.length === 0) return ctx;
    const stripped = mode === 'strip' && found.some((f) => f.kind === 'hidden' && !f.where.startsWith('attachment:'));
    let next: Context = { ...ctx, assigns: { ...ctx.assigns, guard: { mode, findings: found, stripped } } };
    if (stripped) next = strip(next);
    next = audit(next, { kind: 'guard.flagged', actor: 'plug:guard', subject: ctx.event.id, data: { stage: ctx.stage, mode, findings: found } });
    return mode === 'halt' ? halt(next, 'guard', reason(found)) : next;
  },
};
