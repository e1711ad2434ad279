/**
 * What the assistant sees of a mail body, and how subjects are normalized. Mail clients append the whole history
 * to every reply; passing it on would make the assistant answer old questions again and grow every turn.
 */

/** "On Mon, 1 Jan 2024 at 10:00, Bob <bob@example.com> wrote:" and the common localized forms. */
const ATTRIBUTION = [
  /^on\b.{0,300}\bwrote:$/i,
  /^am\b.{0,300}\bschrieb\b.{0,150}:$/i,
  /^le\b.{0,300}\ba écrit ?:$/i,
  /^el\b.{0,300}\bescribió:$/i,
  /^op\b.{0,300}\bschreef\b.{0,150}:$/i,
];
/** Outlook puts the history under a header block rather than `>` quotes: everything from here on is history. */
const HISTORY = [/^-{2,} ?original message ?-{2,}$/i, /^-{2,} ?ursprüngliche nachricht ?-{2,}$/i];
const OUTLOOK_RULE = /^_{20,}$/;
const HEADER_LINE = /^(from|von|de|van|da)\s?:\s/i;
/** The other lines of such a header block, in the same languages: when it was sent, and to whom or about what. */
const SENT_LINE = /^(sent|date|gesendet|datum|envoyé|enviado|verzonden|inviato|data)\s?:\s/i;
const BLOCK_LINE = /^(to|an|à|a|para|aan|cc|subject|betreff|objet|asunto|onderwerp|oggetto)\s?:\s/i;
/** What a user forwards is what they want read: a header block under one of these is content, not history. */
const FORWARDED = /^(-+ ?(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada) ?-+|begin forwarded message:|inizio messaggio inoltrato:)$/i;

/**
 * A quoted mail's header block (From, then Sent or Date, and To or Subject) starts at line `i`, with or without
 * Outlook's rule above it. A forwarded mail's block is not one: the user sent it to be read.
 */
function headerBlockAt(lines: string[], i: number, before: string | undefined): boolean {
  if (!HEADER_LINE.test(lines[i]!.trim())) return false;
  if (before !== undefined && FORWARDED.test(before)) return false;
  const following = lines.slice(i + 1, i + 6).map((l) => l.trim()).filter((l) => l !== '').slice(0, 4);
  return following.some((l) => SENT_LINE.test(l)) && following.some((l) => BLOCK_LINE.test(l));
}
/** RFC 3676's "-- " delimiter; many clients trim the trailing space. */
const SIGNATURE = /^-- ?$/;
const MOBILE_FOOTER = /^(sent from my \S.*|get outlook for \S.*)$/i;
const QUOTED = /^\s*>/;

const isAttribution = (line: string): boolean => ATTRIBUTION.some((r) => r.test(line.trim()));

/**
 * For each line, the next line after it that is not blank (or undefined), worked out in one pass from the end: a
 * body of a million blank lines must not be read a million times over.
 */
function nextContents(lines: string[]): Array<string | undefined> {
  const next: Array<string | undefined> = new Array(lines.length);
  let after: string | undefined;
  for (let i = lines.length - 1; i >= 0; i--) {
    next[i] = after;
    if (lines[i]!.trim() !== '') after = lines[i];
  }
  return next;
}

/**
 * Removes quoted history (`>` lines and the "On … wrote:" line that introduces them, Outlook's "Original Message"
 * block or bare From/Sent/To/Subject header block) and the signature (from the `-- ` line down). Inline answers between quotes are kept, in order. An
 * attribution-like line is removed only when a quote (or nothing) follows it, so a sentence of the user's own
 * that happens to end in "wrote:" survives.
 */
export function visibleText(body: string): string {
  const lines = body.replace(/\r\n?/g, '\n').split('\n');
  const nextContent = nextContents(lines);
  const out: string[] = [];
  // The last line with content before this one: kept as the loop goes, so no line is read twice.
  let before: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (SIGNATURE.test(line)) break;
    const trimmed = line.trim();
    const previous = before;
    if (trimmed !== '') before = trimmed;
    if (HISTORY.some((r) => r.test(trimmed))) break;
    if (OUTLOOK_RULE.test(trimmed) && HEADER_LINE.test(nextContent[i] ?? '')) break;
    if (headerBlockAt(lines, i, previous)) break;
    if (QUOTED.test(line)) continue;
    const next = nextContent[i];
    const quoteFollows = next === undefined || QUOTED.test(next);
    if (quoteFollows && isAttribution(line)) continue;
    // Clients wrap a long attribution over two lines ("… Bob Smith <" / "bob@example.com> wrote:").
    if (i + 1 < lines.length && isAttribution(`${trimmed} ${lines[i + 1]!.trim()}`)) {
      const after = nextContent[i + 1];
      if (after === undefined || QUOTED.test(after)) {
        i++;
        continue;
      }
    }
    out.push(line.replace(/\s+$/, ''));
  }
  while (out.length && out[out.length - 1]!.trim() === '') out.pop();
  if (out.length && MOBILE_FOOTER.test(out[out.length - 1]!.trim())) out.pop();
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}

/** Reply prefixes clients add, localized ("Aw:", "SV:", "Antw:") and counted ("Re[2]:"). Fwd: is content, kept. */
const REPLY_PREFIX = /^(re|aw|sv|vs|antw|odp|r)\s*(\[\d+\]|\(\d+\))?\s*:\s*/i;

/** The subject without any reply prefixes and with runs of whitespace collapsed. */
export function baseSubject(subject: string): string {
  let s = subject.replace(/\s+/g, ' ').trim();
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = s.replace(REPLY_PREFIX, '').trim();
  }
  return s;
}

/** True when the subject says it answers something ("Re: …"). */
export const isReplySubject = (subject: string): boolean => REPLY_PREFIX.test(subject.trim());

/** Exactly one "Re: ", never "Re: Re: ". */
export function replySubject(subject: string): string {
  const base = baseSubject(subject);
  return base ? `Re: ${base}` : 'Re:';
}
