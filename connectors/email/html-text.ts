import { htmlToText } from 'html-to-text';

/** HTML parts up to this many characters (after inline images are taken out) are turned into text. */
export const MAX_HTML_TO_PARSE = 2_000_000;
/** As deep as mailparser lets html-to-text go. */
const MAX_DEPTH = 1_000;
/** Inline images (data: URIs): a pasted screenshot is megabytes of base64 around one sentence. */
const INLINE_DATA = /data:[^"'\s)>]{64,}/g;
/**
 * Signatures as mail clients mark them in HTML (Gmail, Thunderbird, Outlook on the web). A text part marks its
 * signature with the `-- ` line, which the text cleaner stops at; an HTML-only mail has no such line to stop at.
 * Quotes are left to the text cleaner: html-to-text writes a blockquote as `>` lines, and a forwarded mail sits in
 * the same containers as a quoted one but is meant to be read.
 */
const SIGNATURES = ['.gmail_signature', '.moz-signature', '#Signature'].map((selector) => ({ selector, format: 'skip' as const }));

/**
 * The text of an HTML-only mail (mailparser is told not to convert HTML, so every HTML part comes here): without its
 * inline images and signature. One still over the limit is too long: its sender is told so, instead of the mail
 * going unanswered as if it said nothing.
 */
export function htmlText(html: string): { text: string } | { tooLongChars: number } {
  const lean = html.replace(INLINE_DATA, '');
  if (lean.length > MAX_HTML_TO_PARSE) return { tooLongChars: lean.length };
  return { text: htmlToText(lean, { limits: { maxDepth: MAX_DEPTH }, selectors: SIGNATURES }) };
}
