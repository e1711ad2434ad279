import { htmlToText } from 'html-to-text';

/** mailparser turns HTML parts up to this many characters into text; a larger part gets no text from it. */
export const MAX_HTML_TO_PARSE = 2_000_000;
/** As deep as mailparser lets html-to-text go. */
const MAX_DEPTH = 1_000;
/** Inline images (data: URIs): a pasted screenshot is megabytes of base64 around one sentence. */
const INLINE_DATA = /data:[^"'\s)>]{64,}/g;

/**
 * The text of an HTML part mailparser left unconverted for its size. Without its inline images it is usually small,
 * and converted as mailparser would. One still over the limit is too long: its sender is told so, instead of the
 * mail going unanswered as if it said nothing.
 */
export function largeHtmlText(html: string): { text: string } | { tooLongChars: number } {
  const lean = html.replace(INLINE_DATA, '');
  if (lean.length > MAX_HTML_TO_PARSE) return { tooLongChars: lean.length };
  return { text: htmlToText(lean, { limits: { maxDepth: MAX_DEPTH } }) };
}
