import { breakMarkers, breakQuoteStarts, breakRuns, escapeHtml } from './text.js';
import { atom, prefixLines, type Style, text, wrap } from './tokens.js';

/**
 * Slack mrkdwn. `&`, `<` and `>` are escaped everywhere, so text never becomes a mention (`<@U123>`, `<!channel>`)
 * or a link (`<http://x|y>`). Slack has no escape for its formatting markers, so `*`, `_`, `~` and backticks also get
 * zero-width spaces around them, as on WhatsApp (see text.ts); the text reads the same. So does a `>` that starts a
 * word: Slack reads `&gt;` at the start of a line as a quote (and a cut before that word would start a line there).
 */

const escape = (s: string): string => escapeHtml(breakQuoteStarts(breakMarkers(s)));
// Inside code, only a run of three backticks (which would close the block early) needs breaking.
const code = (s: string): string => escapeHtml(s.includes('``') ? breakRuns(s, /`{2,}/g) : s);
// In `<url|label>` a `|` in the URL would end it early.
const url = (s: string): string => escapeHtml(s.replaceAll('|', '%7C'));

export const slack: Style = {
  text: escape,
  atomic: /&(?:#\d+|[a-z]+);/g,
  strong: ['*', '*'],
  emphasis: ['_', '_'],
  strike: ['~', '~'],
  marksAtWordBoundary: true,
  // Slack's inline code cannot hold a backtick; such code is shown as text instead.
  inlineCode: (value) => (value.includes('`') ? [text(escape(value))] : wrap('`', '`', [text(escapeHtml(value))])),
  codeBlock: (value) => wrap('```\n', '\n```', [text(code(value), true)]),
  // A link is one unit: `<url|label>` cut in two would show both halves as text.
  link: (href, _label, labelText) =>
    [atom(labelText === undefined ? `<${url(href)}>` : `<${url(href)}|${escapeHtml(labelText.replace(/\s+/g, ' '))}>`)],
  heading: (_depth, content) => wrap('*', '*', content),
  quote: (content) => prefixLines(content, '> ', '> ', true),
  bullet: '• ',
  rule: '———',
};

/**
 * Slack text posted with `mrkdwn: false`: nothing is formatting, so only `&`, `<` and `>` (which Slack reads in any
 * text) are escaped, and a plain reply arrives exactly as typed, with no zero-width spaces.
 */
export const slackText: Style = { ...slack, text: escapeHtml };
