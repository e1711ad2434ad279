import { escapeAttribute, escapeHtml } from './text.js';
import { type Style, text, wrap } from './tokens.js';

/**
 * HTML for the dashboard (web chat, conversation history), shown inside an element with `white-space: pre-wrap`,
 * so the renderer's line breaks lay the blocks out as on the chat platforms. Every text node is escaped and the
 * only tags are the ones below; a link's URL is already checked (http, https, mailto). The page's CSP allows no
 * inline script, so even a renderer bug could not run one.
 */

export const html: Style = {
  text: escapeHtml,
  atomic: /&(?:#\d+|[a-z]+);/g,
  strong: ['<strong>', '</strong>'],
  emphasis: ['<em>', '</em>'],
  strike: ['<del>', '</del>'],
  inlineCode: (value) => wrap('<code>', '</code>', [text(escapeHtml(value))]),
  codeBlock: (value) => wrap('<pre><code>', '</code></pre>', [text(escapeHtml(value), true)]),
  link: (url, label) => wrap(`<a href="${escapeAttribute(url)}" rel="noopener noreferrer nofollow" target="_blank">`, '</a>', label),
  // A chat bubble has no room for a page's headings: a bold line reads as one, as on Telegram.
  heading: (_depth, content) => wrap('<strong>', '</strong>', content),
  quote: (content, nested) => (nested ? content : wrap('<blockquote>', '</blockquote>', content)),
  bullet: '• ',
  rule: '———',
};
