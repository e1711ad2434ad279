import { linkAsText, prefixLines, type Style, text } from './tokens.js';

/**
 * No markup at all (Signal, e-mail): plain text passes unchanged, markdown loses its marks but keeps its shape:
 * `> ` quotes, `• ` bullets, `label (url)` links. Signal's own styles are ranges, not markup, and are not used.
 */

const same = (s: string): string => s;

export const plain: Style = {
  text: same,
  inlineCode: (value) => [text(value)],
  codeBlock: (value) => [text(value, true)],
  link: (url, label, labelText) => linkAsText(url, label, labelText, same),
  heading: (_depth, content) => content,
  quote: (content) => prefixLines(content, '> ', '> ', true),
  bullet: '• ',
  rule: '———',
};
