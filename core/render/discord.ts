import { breakRuns, outsideUrls } from './text.js';
import { atom, linkAsText, prefixLines, type Style, text, wrap } from './tokens.js';

/**
 * Discord's markdown. A backslash before any punctuation shows that character, so escaping is complete: the inline
 * markers everywhere (`\ * _ ~ ` | [ ]`: bold, italic, underline, strike, code, spoilers, masked links), and what
 * would begin a quote, heading, subtext or list at the start of a line (`> # - + 1.`), and the `<` of what Discord
 * draws as a chip (`<@id>`, `<@&role>`, `<#channel>`, `<:emoji:id>`, `<t:time>`, `</command:id>`, `<id:customize>`).
 * `@everyone` is left as typed: the connector sends with `allowed_mentions`, so it notifies nobody.
 */

const MARKER = /[\\*_~`|[\]]/;
const MARKERS = new RegExp(MARKER, 'g');

/**
 * Discord links a URL up to any character but `<`, whitespace or closing punctuation, backslashes included, so an
 * escaped marker right after a URL (`https://x.com\*`) would join the link and show its backslash. Such a URL is
 * written `<url>`: Discord shows it without the brackets (and without a preview). A URL typed in brackets keeps them:
 * `\<<url>>`.
 */
const fenceUrl = (url: string, after: string): string => (/^https?:/i.test(url) && (MARKER.test(after) || after === '<' || after === '>') ? `<${url}>` : url);

export function escapeDiscord(s: string): string {
  // Line-start markers are escaped at the start of every word: a cut at the space before it starts a message there.
  return outsideUrls(s, (part) => part.replace(MARKERS, '\\$&').replace(/<(?=$|[@#:]|a:|t:|id:|\/[^>\n]*:\d+>)/g, '\\<'), fenceUrl)
    .replace(/(^|\s)([>#+-])/g, '$1\\$2')
    .replace(/(^|\s)(\d+)([.)])(?=\s|$)/g, '$1$2\\$3');
}

// A code span or block ends at the first run of its own fence; longer runs inside are broken with zero-width spaces.
const inlineCode = (value: string) => {
  if (!value.includes('`')) return wrap('`', '`', [text(value)]);
  return wrap('`` ', ' ``', [text(value.includes('``') ? breakRuns(value, /`{2,}/g) : value)]);
};
const maskedUrl = (url: string): string => url.replaceAll('(', '%28').replaceAll(')', '%29');

export const discord: Style = {
  text: escapeDiscord,
  atomic: /\\[^\sA-Za-z0-9]/gu,
  strong: ['**', '**'],
  // `*` works inside a word (`*un*believable`); Discord reads `_` only at a word boundary.
  emphasis: ['*', '*'],
  strike: ['~~', '~~'],
  inlineCode,
  codeBlock: (value, lang) => wrap(`\`\`\`${lang ?? ''}\n`, '\n```', [text(breakRuns(value, /`{3,}/g), true)]),
  // A masked link is a pair of markup, so a label cut in two is a link in both parts. Discord masks only http(s).
  link: (url, label, labelText) =>
    labelText !== undefined && /^https?:/.test(url) ? wrap('[', `](${maskedUrl(url)})`, label) : linkAsText(url, label, labelText, escapeDiscord),
  // Discord has three heading levels; deeper ones become bold lines.
  heading: (depth, content) => (depth <= 3 ? [atom(`${'#'.repeat(depth)} `), ...content] : wrap('**', '**', content)),
  quote: (content) => prefixLines(content, '> ', '> ', true),
  bullet: '- ',
  rule: '———',
};
