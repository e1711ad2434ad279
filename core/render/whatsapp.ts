import { breakMarkers, breakQuoteStarts, breakRuns } from './text.js';
import { linkAsText, prefixLines, type Style, text, wrap } from './tokens.js';

/**
 * WhatsApp formats `*bold*`, `_italic_`, `~strike~`, ```mono``` (and, lately, `> ` quotes) and has no escape syntax.
 * Plain text is kept from being formatted by zero-width spaces (U+200B) around every marker character and before a
 * `>` that starts a word (a cut before that word would make it a quote): the text reads exactly as typed, at the cost
 * of invisible characters in a copy of it. URLs are left whole (WhatsApp links them; a zero-width space would break
 * the link). WhatsApp has no link syntax, so a markdown link becomes `label (url)`.
 */

const escape = (s: string): string => breakQuoteStarts(breakMarkers(s));
// Monospace ends at the next three backticks, so any run of them inside is broken.
const mono = (s: string): string => breakRuns(s, /`+/g);

export const whatsapp: Style = {
  text: escape,
  strong: ['*', '*'],
  emphasis: ['_', '_'],
  strike: ['~', '~'],
  marksAtWordBoundary: true,
  inlineCode: (value) => wrap('```', '```', [text(mono(value))]),
  codeBlock: (value) => wrap('```\n', '\n```', [text(mono(value), true)]),
  link: (url, label, labelText) => linkAsText(url, label, labelText, escape),
  heading: (_depth, content) => wrap('*', '*', content),
  quote: (content) => prefixLines(content, '> ', '> ', true),
  bullet: '• ',
  rule: '———',
};
