import { CREDENTIAL_PATTERNS } from './credentials.js';

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
  private values: string[] = [];

  addSecret(value: string): void {
    if (value.length < MIN_SECRET_CHARS) return;
    // Its JSON-escaped form is what appears inside serialized log lines and audit data. A token of the shape
    // `<public id>:<secret>` (Telegram's) is secret in its second half alone, which an error may quote by itself.
    const half = /^\d+:(.{20,})$/.exec(value)?.[1];
    const forms = new Set([value, JSON.stringify(value).slice(1, -1), ...(half ? [half] : [])]);
    // Longest first, so a secret containing another is replaced whole.
    this.values = [...new Set([...this.values, ...forms])].sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(SECRET_MARK);
    for (const re of CREDENTIAL_PATTERNS) out = out.replace(re, SHAPE_MARK);
    return out;
  }

  /**
   * For text still growing (a streamed draft): an ending that may be the start of a secret is held back too, and
   * so is the word still being written, with any digit groups before it. A credential, a card number or an IBAN
   * is masked only once whole, and a draft that showed its start could never be taken back by a later one.
   */
  redactGrowing(text: string): string {
    const out = this.redact(text);
    for (const v of this.values) {
      for (let n = Math.min(v.length - 1, out.length); n >= MIN_PARTIAL_CHARS; n--) if (out.endsWith(v.slice(0, n))) return out.slice(0, -n);
    }
    return out.slice(0, unfinishedFrom(out));
  }
}

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Where the unfinished ending starts: the last word (no whitespace after it), and digit groups before it (`4111 1111 `). */
function unfinishedFrom(text: string): number {
  let start = text.length;
  while (start > 0 && !isSpace(text[start - 1])) start--;
  for (;;) {
    const gap = start - 1;
    if (text[gap] !== ' ' && text[gap] !== '-') return start;
    let group = gap;
    while (isDigit(text[group - 1])) group--;
    if (group === gap) return start;
    start = group;
  }
}

/**
 * The process's redactor. Every secret the process resolves is added to it where it is resolved, so that no way
 * out (a log line, an audit entry, a doctor verdict, the error a dying process prints) can miss one.
 */
export const processRedactor = new Redactor();
