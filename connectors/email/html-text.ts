import { simpleParser } from 'mailparser';

/** mailparser turns HTML parts up to this many characters into text; a larger part gets no text from it. */
export const MAX_HTML_TO_PARSE = 2_000_000;
/** Inline images (data: URIs): a pasted screenshot is megabytes of base64 around one sentence. */
const INLINE_DATA = /data:[^"'\s)>]{64,}/g;

/**
 * The text of an HTML part mailparser left unconverted for its size. Without its inline images it is usually small,
 * and then converted by mailparser itself, as a part of its own: its check of how deep the tags nest comes with it
 * (html-to-text's time grows faster than the depth: a small mail nested 400,000 deep took 50 s). One still over the
 * limit is too long: its sender is told so, instead of the mail going unanswered as if it said nothing.
 */
export async function largeHtmlText(html: string): Promise<{ text: string } | { tooLongChars: number }> {
  const lean = html.replace(INLINE_DATA, '');
  if (lean.length > MAX_HTML_TO_PARSE) return { tooLongChars: lean.length };
  const part = await simpleParser(`Content-Type: text/html; charset=utf-8\r\n\r\n${lean}`, { skipImageLinks: true, skipTextToHtml: true, maxHtmlLengthToParse: MAX_HTML_TO_PARSE });
  return { text: part.text ?? '' };
}
