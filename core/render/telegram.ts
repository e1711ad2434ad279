import { escapeAttribute, escapeHtml } from './text.js';
import { type Style, text, wrap } from './tokens.js';

/**
 * Telegram's HTML parse mode: the only one whose escaping is complete and simple (`&`, `<`, `>`; MarkdownV2 has
 * eighteen characters to escape, differently inside code and links). Tags used: b, i, s, code, pre, a, blockquote.
 */

export const telegram: Style = {
  text: escapeHtml,
  atomic: /&(?:#\d+|[a-z]+);/g,
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
