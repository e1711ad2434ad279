import { escapeAttribute, escapeHtml } from './text.js';
import { type Style, text, wrap } from './tokens.js';

/**
 * Telegram's HTML parse mode: the only one whose escaping is complete and simple (`&`, `<`, `>`; MarkdownV2 has
 * eighteen characters to escape, differently inside code and links). Tags used: b, i, s, code, pre, a, blockquote.
 */

// The named entities Telegram decodes (Bot API, formatting options), and numeric ones. Anything else stays as
// written, so it is counted in full: never less than Telegram counts.
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };
const ENTITY = /&(?:#(\d+)|#[xX]([0-9a-fA-F]+)|([a-z]+));/g;
const decodeEntity = (whole: string, dec: string | undefined, hex: string | undefined, name: string | undefined): string => {
  if (name !== undefined) return NAMED[name] ?? whole;
  const point = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
  return point <= 0x10ffff ? String.fromCodePoint(point) : whole;
};

/**
 * Telegram HTML as the text Telegram shows and counts against its limit ("1-4096 characters after entities parsing",
 * in UTF-16 code units): tags dropped, each entity the character it stands for. Attribute values are escaped, so no
 * `>` ends a tag early.
 */
export const parsedText = (html: string): string => html.replace(/<[^>]*>/g, '').replace(ENTITY, decodeEntity);

export const telegram: Style = {
  text: escapeHtml,
  atomic: /&(?:#\d+|[a-z]+);/g,
  counted: parsedText,
  strong: ['<b>', '</b>'],
  emphasis: ['<i>', '</i>'],
  strike: ['<s>', '</s>'],
  inlineCode: (value) => wrap('<code>', '</code>', [text(escapeHtml(value))]),
  codeBlock: (value, lang) =>
    lang
      ? wrap(`<pre><code class="language-${escapeAttribute(lang)}">`, '</code></pre>', [text(escapeHtml(value), true)])
      : wrap('<pre>', '</pre>', [text(escapeHtml(value), true)]),
  link: (url, label) => wrap(`<a href="${escapeAttribute(url)}">`, '</a>', label),
  // Telegram has no headings: a bold line reads as one.
  heading: (_depth, content) => wrap('<b>', '</b>', content),
  // Telegram refuses nested blockquotes; an inner quote stays inside the outer one.
  quote: (content, nested) => (nested ? content : wrap('<blockquote>', '</blockquote>', content)),
  bullet: '• ',
  rule: '———',
};
