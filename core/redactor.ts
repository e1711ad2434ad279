import { CREDENTIAL_PATTERNS, TOKEN_PATTERNS } from './credentials.js';

const SECRET_MARK = '[secret]';
const SHAPE_MARK = '[redacted]';
/** Shorter values would blank out ordinary words; such a secret is too weak to matter to a log reader anyway. */
const MIN_SECRET_CHARS = 6;
/** A draft ending in this much of a secret's start is cut there: shorter endings are ordinary text. */
const MIN_PARTIAL_CHARS = 4;

/**
 * One redactor per process, fed every vault value the process holds, applied by the logger, the audit writer,
 * error messages and HTTP responses: whatever a secret is, and whatever looks like a live credential, never leaves
 * in text.
 */
export class Redactor {
  /** Whether `addSecret` would mask a value this long (a shorter one is left as it is). */
  static masks(value: string): boolean {
    return value.length >= MIN_SECRET_CHARS;
  }

  private values: string[] = [];

  addSecret(value: string): void {
    if (value.length < MIN_SECRET_CHARS) return;
    // Its JSON-escaped form is what appears inside serialized log lines and audit data. A token of the shape
    // `<public id>:<secret>` (Telegram's) is secret in its second half alone, which an error may quote by itself.
    const half = /^\d+:(.{20,})$/.exec(value)?.[1];
    // A platform's error may also quote it in another case, or without the kind prefix tokens carry (`xoxb-`, `sk-`).
    const unprefixed = /^[A-Za-z]{2,8}[-_](.{16,})$/.exec(value)?.[1];
    const cased = [value.toUpperCase(), value.toLowerCase()];
    const forms = new Set([value, JSON.stringify(value).slice(1, -1), ...encodedForms(value), ...cased, ...[half, unprefixed].filter((f) => f !== undefined)]);
    // Longest first, so a secret containing another is replaced whole.
    this.values = [...new Set([...this.values, ...forms])].sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    return this.mask(text, CREDENTIAL_PATTERNS);
  }

  /**
   * Secrets and token shapes, but not values named `password=…`: those rules mask anything up to the next space,
   * and in a shell command put to an owner that could be the commands they are asked to approve.
   */
  redactTokens(text: string): string {
    return this.mask(text, TOKEN_PATTERNS);
  }

  private mask(text: string, patterns: readonly RegExp[]): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(SECRET_MARK);
    for (const re of patterns) out = out.replace(re, SHAPE_MARK);
    return out;
  }

  /**
   * For text still growing (a streamed draft): an ending that may be the start of a secret is held back too, and
   * so is the word still being written, with the groups of a number before it (a card, an IBAN, a phone number).
   * Such a value is masked only once whole, and a draft that showed its start could never be taken back.
   */
  redactGrowing(text: string): string {
    const out = this.redact(text);
    let end = Math.min(unfinishedFrom(out), ibanFrom(out));
    for (const v of this.values) {
      for (let n = Math.min(v.length - 1, out.length); n >= 2; n--) {
        // A value's first words followed by their space are held however short (`ab ` of `ab cdefgh`): the word
        // still being written is held anyway, but a finished one would show.
        if ((n >= MIN_PARTIAL_CHARS || /\s/.test(v[n - 1]!)) && out.endsWith(v.slice(0, n))) {
          end = Math.min(end, out.length - n);
          break;
        }
      }
    }
    return out.slice(0, end);
  }
}

/** An encoded fragment shorter than this could be ordinary text (a date in hex digits, a word in base64's letters). */
const MIN_ENCODED_CHARS = 8;
/** Where base64 characters that come from the value alone begin, by the value's offset within a 3-byte group. */
const FIRST_OWN_CHAR = [0, 2, 3];

/**
 * How a value appears once encoded for a URL, a form, a header or a dump: percent-escaped (either case), as a form
 * field, in hex, and in base64 (both alphabets). Inside a longer base64 run (`user:secret` in a Basic header) the
 * value's characters depend on where it starts within a 3-byte group, so each of the three alignments counts,
 * trimmed to the characters that come from the value's bytes alone.
 */
function encodedForms(value: string): string[] {
  const bytes = Buffer.from(value);
  const uri: string[] = [];
  for (const encode of [encodeURIComponent, encodeURI]) {
    try {
      uri.push(encode(value));
    } catch {
      // A lone surrogate has no URI form.
    }
  }
  uri.push(new URLSearchParams({ v: value }).toString().slice(2));
  const forms = [...uri, ...uri.map((f) => f.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())), bytes.toString('hex'), bytes.toString('hex').toUpperCase()];
  forms.push(bytes.toString('base64'), bytes.toString('base64url'));
  for (const [shift, from] of FIRST_OWN_CHAR.entries()) {
    const own = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64').slice(from, Math.floor((shift + bytes.length) / 3) * 4);
    forms.push(own, own.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms.filter((f) => f !== value && f.length >= MIN_ENCODED_CHARS);
}

/** A mask a value left in the text: a longer value may still take it in (a phone number inside an IBAN). */
const MASK = /^\[(?:secret|redacted(?::[a-z]+)?)\]$/;
/** Punctuation around a token (`**4111`, `(0044`, `card:`): what is inside is what counts. */
const EDGES = /^[^\p{L}\p{N}+[]+|[^\p{L}\p{N}\]]+$/gu;

/** A group of a card, phone or account number: digits with number punctuation (`4111`, `+44`, `(555)`, `123-4567`). */
const NUMBER_GROUP = /^\+?[\d().\-/]*\d[\d().\-/]*$/;
/** Ends in an IBAN's country and check digits, in either case (`gb82`, `ref12de89`): a mask after it may be its
 * account number. */
const IBAN_HEAD = /(?:^|[^A-Za-z])[A-Za-z]{2}\d{2}$/;
/** A group of capitals and digits, as an IBAN is written (`GB82`, `WEST`). */
const CAPS_GROUP = /^[A-Z0-9]{1,8}$/;

/**
 * How a token before the last word bears on a value still being written: part of a number (a group of one, a mask),
 * capitals that may be, or neither. What follows a colon in it counts (`IBAN:DE89`); a word in small letters with a
 * digit (`word0`) is a word.
 */
function kind(token: string): 'digit' | 'caps' | undefined {
  const core = token.replace(EDGES, '');
  if (MASK.test(core)) return 'digit';
  const tail = core.split(/[^\p{L}\p{N}+().\-/]/u).at(-1) ?? '';
  if (NUMBER_GROUP.test(tail) || IBAN_HEAD.test(tail)) return 'digit';
  if (CAPS_GROUP.test(tail)) return /\d/.test(tail) ? 'digit' : 'caps';
  return undefined;
}

/**
 * An IBAN still being written, in either case: country and check digits, then up to 30 letters or digits with
 * single spaces between. `unfinishedFrom` takes capitals for an account's letters; people type `gb82 west …` too.
 */
const IBAN_GROWING = /(?<!\p{L})[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){0,30} ?$/u;
/** Longer than any IBAN with a space between each character: the search need not look further back. */
const IBAN_REACH = 2 * 34 + 2;

function ibanFrom(text: string): number {
  const tail = Math.max(0, text.length - IBAN_REACH);
  const m = IBAN_GROWING.exec(text.slice(tail));
  // A match at the cut may have lost the letter before it that makes it no IBAN start; holding back is the safe side.
  return m ? tail + m.index : text.length;
}

/**
 * Where the unfinished ending starts: the last word (no whitespace after it), and before it, on its line, a run of
 * tokens that hold digits, are capitals or are masks, when the run holds a digit or a mask (`4111 1111 `,
 * `**DE89 3704 `, `+44 (20) `, `DE89 3704 [redacted:phone] `). A word in small letters ends the run: ordinary
 * text is held back by one word at most.
 */
function unfinishedFrom(text: string): number {
  let start = text.length;
  while (start > 0 && !/\s/.test(text[start - 1]!)) start--;
  let run = start;
  let digits = false;
  for (let at = start; ; ) {
    let end = at;
    while (end > 0 && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--;
    if (end === at || end === 0 || /\s/.test(text[end - 1]!)) break;
    let begin = end;
    while (begin > 0 && !/\s/.test(text[begin - 1]!)) begin--;
    const k = kind(text.slice(begin, end));
    if (!k) break;
    if (k === 'digit') digits = true;
    run = at = begin;
  }
  return digits ? run : start;
}

/**
 * The process's redactor. Every secret the process resolves is added to it where it is resolved, so that no way
 * out (a log line, an audit entry, a doctor verdict, the error a dying process prints) can miss one.
 */
export const processRedactor = new Redactor();
