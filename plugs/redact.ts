import { RE2JS } from 're2js';
import { re2Source } from './re2-pattern.js';
import { z } from 'zod';
import { CREDENTIAL_PATTERNS } from '../core/credentials.js';
import { audit, type Context, type Plug } from '../core/plug.js';

/**
 * Masks credentials and personal data in what its stage hands on (see `masked`). Each match becomes
 * `[redacted:<category>]`; the audit log gets categories and counts, never the values. Every built-in pattern
 * is anchored on a boundary (a lookbehind or a fixed prefix) so that 100,000 characters of hostile input are
 * scanned in linear time.
 */

/**
 * Also the order they run in, each on the text the previous left: credentials before the digits inside them,
 * cards before phone numbers, so that a phone number followed by a card cannot take the card's first digits.
 */
export const CATEGORIES = ['credential', 'iban', 'email', 'card', 'phone'] as const;
export type Category = (typeof CATEGORIES)[number];

const placeholder = (name: string): string => `[redacted:${name}]`;


const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}/g;
// International form only (+ or 00, then a country code): bare national numbers are too like any other number.
const PHONE = /(?<![\w+])(?:\+|00)[1-9][\d ().-]{5,22}\d/;
const DIGIT_RUN = /\d+(?:[ -]\d+)*/g;
// Digits may touch its start ("ref 12DE89…"), letters may not: they would make the country code part of a word.
const IBAN_CANDIDATE = /(?<![A-Za-z])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}/;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * Each country's IBAN length (the SWIFT IBAN registry): a candidate must be exactly its country's length. Any two
 * letters and any length let ordinary text pass mod 97 by chance ("kw31 kw32 … kw38" was masked).
 */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30,
  KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20,
  MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22,
  RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

/** ISO 13616: its country's length, the first four characters moved to the end, letters as 10–35, mod 97 is 1. */
export function ibanValid(compact: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact) || IBAN_LENGTHS[compact.slice(0, 2)] !== compact.length) return false;
  let rem = 0;
  for (const ch of compact.slice(4) + compact.slice(0, 4)) {
    const v = parseInt(ch, 36);
    rem = v > 9 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

type Masker = (text: string) => { text: string; count: number };

function regexMasker(patterns: readonly RegExp[], name: string): Masker {
  return (text) => {
    let count = 0;
    for (const re of patterns) {
      text = text.replace(re, () => (count++, placeholder(name)));
    }
    return { text, count };
  };
}

/**
 * Card numbers: 13–19 digits in groups split by single spaces or dashes. The groups next to a card may be other
 * numbers ("order 12 4111 1111 1111 1111", "+1 555 1234 4111 1111 1111 1111"), so every window of whole groups
 * is checked, and overlapping valid windows are masked as one.
 */
const maskCards: Masker = (text) => {
  let count = 0;
  const out = text.replace(DIGIT_RUN, (run: string, offset: number) => {
    const plus = text[offset - 1] === '+';
    const groups = [...run.matchAll(/\d+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length, digits: m[0] }));
    const spans: Array<[number, number]> = [];
    for (let i = 0; i < groups.length; i++) {
      let digits = '';
      for (let j = i; j < groups.length && digits.length + groups[j]!.digits.length <= 19; j++) {
        digits += groups[j]!.digits;
        if (digits.length < 13 || !luhnValid(digits)) continue;
        // No card number starts with 0, and none is written after a `+`: those are phone numbers.
        if (digits[0] === '0' || (i === 0 && plus)) continue;
        const last = spans.at(-1);
        if (last && i <= last[1]) last[1] = Math.max(last[1], j);
        else spans.push([i, j]);
      }
    }
    if (spans.length === 0) return run;
    let masked = '';
    let at = 0;
    for (const [a, b] of spans) {
      masked += run.slice(at, groups[a]!.start) + placeholder('card');
      at = groups[b]!.end;
    }
    count += spans.length;
    return masked + run.slice(at);
  });
  return { text: out, count };
};

/**
 * For patterns whose candidates can run on into what follows ("DE89 3704 0044 0532 0130 00 OK", or a phone
 * number followed by another number): `end` picks the longest acceptable prefix of each candidate. After a
 * refused candidate, scanning resumes one character on, since a valid value may start inside it.
 */
function prefixMasker(candidate: RegExp, name: string, end: (text: string, start: number, max: number) => number | undefined): Masker {
  return (text) => {
    let out = '';
    let last = 0;
    let count = 0;
    const re = new RegExp(candidate.source, 'g');
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const stop = end(text, m.index, m.index + m[0].length);
      if (stop === undefined) {
        re.lastIndex = m.index + 1;
        continue;
      }
      out += text.slice(last, m.index) + placeholder(name);
      last = re.lastIndex = stop;
      count++;
    }
    return { text: out + text.slice(last), count };
  };
}

/** The end of a valid IBAN from `start` (its country's length, mod 97) that ends on a word boundary. */
function ibanEnd(text: string, start: number, max: number): number | undefined {
  const length = IBAN_LENGTHS[text.slice(start, start + 2).toUpperCase()];
  if (length === undefined) return undefined;
  for (let end = max; end > start; end--) {
    if (text[end - 1] === ' ' || /[A-Za-z0-9]/.test(text[end] ?? '')) continue;
    const compact = text.slice(start, end).replaceAll(' ', '').toUpperCase();
    if (compact.length < length) return undefined;
    if (compact.length === length) return ibanValid(compact) ? end : undefined;
  }
  return undefined;
}

/** The longest phone number from `start` ending on a whole group of digits: 8 to 15 digits after the `+` or `00` (E.164). */
function phoneEnd(text: string, start: number, max: number): number | undefined {
  for (let end = max; end > start; end--) {
    if (!/\d/.test(text[end - 1] ?? '') || /\d/.test(text[end] ?? '')) continue;
    const digits = text.slice(start, end).replace(/\D/g, '').length - (text.startsWith('00', start) ? 2 : 0);
    if (digits < 8) return undefined;
    if (digits <= 15) return end;
  }
  return undefined;
}

const BUILTIN: Record<Category, Masker> = {
  credential: regexMasker(CREDENTIAL_PATTERNS, 'credential'),
  iban: prefixMasker(IBAN_CANDIDATE, 'iban', ibanEnd),
  email: regexMasker([EMAIL], 'email'),
  phone: prefixMasker(PHONE, 'phone', phoneEnd),
  card: maskCards,
};

/**
 * A custom pattern runs on RE2's engine (re2js), in time linear in the text: with JavaScript's backtracking one, a
 * pattern like `(a+)+$` took minutes of a worker's only thread on one message, stalling every conversation. RE2
 * has no lookaround or backreferences; a pattern using them is refused at load, naming the field. Where RE2's classes
 * mean something else than JavaScript's (`\s`, `.`), re2-pattern.ts rewrites them.
 */
function compileCustom(pattern: string, flags = ''): RE2JS {
  const bits = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL, u: 0 } as const;
  return RE2JS.compile(re2Source(pattern, flags.includes('s')), [...flags].reduce((all, f) => all | bits[f as keyof typeof bits], 0));
}

function re2Masker(re: RE2JS, name: string): Masker {
  return (text) => {
    const m = re.matcher(text);
    let [out, last, count] = ['', 0, 0];
    while (m.find()) {
      // An empty match masks nothing (the schema refuses patterns that match the empty string).
      if (m.end() === m.start()) continue;
      out += `${text.slice(last, m.start())}${placeholder(name)}`;
      last = m.end();
      count++;
    }
    return { text: count ? out + text.slice(last) : text, count };
  };
}

const customPattern = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be a short lower-case name'),
    pattern: z.string().min(1),
    flags: z.string().regex(/^[imsu]*$/, 'only i, m, s and u').optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    let re: RE2JS;
    try {
      re = compileCustom(c.pattern, c.flags);
    } catch (error) {
      return void ctx.addIssue({ code: 'custom', path: ['pattern'], message: `${(error as Error).message} (RE2 syntax: no lookaround or backreferences)` });
    }
    // An empty match would put a placeholder between every two characters.
    if (re.matcher('').find()) ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'matches the empty string' });
  });
const optionsSchema = z
  .object({
    categories: z.array(z.enum(CATEGORIES)).default([...CATEGORIES]),
    custom: z.array(customPattern).default([]),
  })
  .strict();
export type RedactOptions = z.input<typeof optionsSchema>;

interface State {
  maskers: Array<[name: string, masker: Masker]>;
}

export function redactText(text: string, state: State): { text: string; counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  for (const [name, masker] of state.maskers) {
    const r = masker(text);
    if (r.count > 0) counts[name] = (counts[name] ?? 0) + r.count;
    text = r.text;
  }
  return { text, counts };
}

/** The context with `mask` applied to what the stage hands on. */
function masked(ctx: Context, mask: (text: string) => string, state: State): Context {
  switch (ctx.stage) {
    case 'inbound': {
      const text = mask(ctx.text);
      // A stateless surface's earlier messages reach the backend too; the event's own copy of the text is replaced
      // so the unmasked value is nowhere in the context.
      const context = ctx.event.context?.map((m) => ({ ...m, content: mask(m.content) }));
      const eventText = ctx.event.text === ctx.text ? text : redactText(ctx.event.text, state).text;
      return { ...ctx, text, event: { ...ctx.event, text: eventText, ...(context ? { context } : {}) } };
    }
    case 'request':
      // Every message the backend is sent but the first, the assistant's own system prompt (the operator's text).
      return { ...ctx, messages: ctx.messages.map((m, i) => (i === 0 && m.role === 'system' ? m : { ...m, content: mask(m.content) })) };
    default:
      return ctx.reply ? { ...ctx, reply: { ...ctx.reply, text: mask(ctx.reply.text) } } : ctx;
  }
}

export const redactPlug: Plug<State, z.infer<typeof optionsSchema>> = {
  name: 'redact',
  options: optionsSchema,
  init({ categories, custom }) {
    // Built-ins run in the order of CATEGORIES; custom patterns (checked by the schema) last.
    const maskers: State['maskers'] = CATEGORIES.filter((c) => categories.includes(c)).map((c) => [c, BUILTIN[c]]);
    for (const c of custom) maskers.push([c.name, re2Masker(compileCustom(c.pattern, c.flags), c.name)]);
    return { maskers };
  },
  /**
   * Masks what the stage hands on: inbound, the user's message (what history keeps and every later stage sees);
   * request, every message the backend is sent; response and outbound, the reply (what history keeps and the user
   * reads).
   */
  call(ctx, state) {
    const counts: Record<string, number> = {};
    const mask = (text: string): string => {
      const r = redactText(text, state);
      for (const [name, n] of Object.entries(r.counts)) counts[name] = (counts[name] ?? 0) + n;
      return r.text;
    };
    const next = masked(ctx, mask, state);
    if (Object.keys(counts).length === 0) return ctx;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return audit(next, { kind: 'redact.masked', actor: 'plug:redact', subject: ctx.event.id, data: { stage: ctx.stage, counts, total } });
  },
};
