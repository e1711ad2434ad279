/** Escaping helpers shared by the dialects. */

export const ZWSP = '\u200b';

/** `&`, `<` and `>`: what Telegram's HTML parse mode and Slack's mrkdwn both require. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));

/** An attribute value between double quotes: escaped as text, and `"` too. */
export const escapeAttribute = (s: string): string => escapeHtml(s).replaceAll('"', '&quot;');

// A backslash ends a URL here so that Discord's backslash escapes stay unambiguous to undo.
const URL_RE = /\b(?:https?:\/\/|mailto:)[^\s<>\\]+/gi;
// Punctuation that closes a sentence or a pair of markers is not part of the URL (as the platforms' linkifiers agree).
const TRAILING = /[.,:;!?'")\]*_~`|]+$/;

/**
 * Applies `escape` to everything but URLs. The platforms link URLs themselves; a zero-width space or a backslash
 * inside one would break the link, and inside a URL the markers are not formatting anyway. `link` may dress a URL
 * for what follows it (`after`, the rest of the text).
 */
export function outsideUrls(s: string, escape: (part: string) => string, link: (url: string, after: string) => string = (url) => url): string {
  let out = '';
  let last = 0;
  for (const m of s.matchAll(URL_RE)) {
    const url = m[0].replace(TRAILING, '');
    const end = m.index + url.length;
    out += escape(s.slice(last, m.index)) + link(url, s.slice(end, end + 1));
    last = end;
  }
  return out + escape(s.slice(last));
}

/** Surrounds every character of each run that `re` (global) matches with zero-width spaces. */
export const breakRuns = (s: string, re: RegExp): string => s.replace(re, (run) => ZWSP + [...run].join(ZWSP) + ZWSP);

/**
 * For dialects with no escape syntax (WhatsApp, and Slack's formatting markers). WhatsApp and Slack format `*x*`,
 * `_x_`, `~x~` and backtick spans only when a marker stands at a word boundary: a zero-width space on each side of
 * every marker takes that boundary away, while the text still reads exactly as typed.
 */
export const breakMarkers = (s: string): string => outsideEmails(s, (part) => outsideUrls(part, (rest) => breakRuns(rest, /[*_~`]+/g)));

// An address whose local part begins and ends with a letter or digit: a marker inside it (`first_last@…`) stands
// within a word, where these platforms never format, and a zero-width space there would break the address.
const EMAIL_RE = /(?<![\w.%+-])[A-Za-z0-9](?:[\w.%+-]*[A-Za-z0-9])?@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;

function outsideEmails(s: string, escape: (part: string) => string): string {
  let out = '';
  let last = 0;
  for (const m of s.matchAll(EMAIL_RE)) {
    out += escape(s.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  return out + escape(s.slice(last));
}

/**
 * A zero-width space before each `>` that starts a word: where `>` at a line's start makes a quote (WhatsApp, Slack),
 * and a cut before that word would start a line there. The text reads the same.
 */
export const breakQuoteStarts = (s: string): string => s.replace(/(^|\s)>/g, `$1${ZWSP}>`);
