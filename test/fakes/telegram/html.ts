/**
 * Telegram's HTML parse_mode parser (https://core.telegram.org/bots/api#html-style), as the Bot API server runs it
 * (tdlib's parse_html): the supported tags, balanced and properly nested, and `&lt; &gt; &amp; &quot;` plus numeric
 * entities. Telegram reads only the attributes it documents (`<a href>`, `<span class="tg-spoiler">`, `<code
 * class="language-…">`, `<tg-emoji emoji-id>`, `<blockquote expandable>`, `<tg-time unix format>`) and skips any
 * other attribute of a supported tag; it refuses a `<span>` that is not a spoiler, a custom emoji without a numeric
 * id, an unquoted value that is not a name token, an attribute without a name and an end tag with anything but its
 * name. The errors are Telegram's words. It is a little stricter than Telegram in one place: an `&` that starts no
 * entity (Telegram shows it as written) is refused, so a connector that passes here is safe there.
 */
const TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'span', 'tg-spoiler', 'a', 'code', 'pre', 'blockquote', 'tg-emoji', 'tg-time']);
const ENTITY = /&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});/y;
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };
const SPACE = /\s/;
/** tdlib's name token: an unquoted attribute value. */
const NAME_TOKEN = /[A-Za-z0-9.-]*/y;
const INT64_MAX = 2n ** 63n - 1n;

const KIND: Record<string, string> = {
  b: 'bold', strong: 'bold', i: 'italic', em: 'italic', u: 'underline', ins: 'underline',
  s: 'strikethrough', strike: 'strikethrough', del: 'strikethrough', 'tg-spoiler': 'spoiler', span: 'spoiler',
};

/** A formatting entity as the Bot API reports it: offsets and lengths in UTF-16 code units of the shown text. */
export interface HtmlEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  custom_emoji_id?: string;
  unix_time?: number;
  date_time_format?: string;
}

export type HtmlResult = { ok: true; visible: string; entities: HtmlEntity[] } | { ok: false; error: string };

interface Open {
  tag: string;
  argument: string;
  unix: number;
  offset: number;
}

class ParseError extends Error {}

/** An entity at `i` (`&…;`), decoded; or a refusal, where Telegram would show the `&` as written. */
function entityAt(html: string, i: number, at: () => string): { char: string; end: number } {
  ENTITY.lastIndex = i;
  const m = ENTITY.exec(html);
  if (!m) throw new ParseError(`Character entity expected ${at()}`);
  const e = m[1]!;
  const code = e[0] !== '#' ? 0 : e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
  if (e[0] === '#' && (code === 0 || code >= 0x10ffff)) throw new ParseError(`Character entity out of range ${at()}`);
  return { char: NAMED[e] ?? String.fromCodePoint(code), end: i + m[0].length };
}

export function parseTelegramHtml(html: string): HtmlResult {
  try {
    return { ok: true, ...parse(html) };
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, error: error.message };
    throw error;
  }
}

function parse(html: string): { visible: string; entities: HtmlEntity[] } {
  const stack: Open[] = [];
  const entities: HtmlEntity[] = [];
  let visible = '';
  let i = 0;
  const bytes = (to: number) => Buffer.byteLength(html.slice(0, to));
  const at = () => `at byte offset ${bytes(i)}`;
  const skipSpace = () => {
    while (i < html.length && SPACE.test(html[i]!)) i++;
  };
  while (i < html.length) {
    const c = html[i]!;
    if (c === '&') {
      const { char, end } = entityAt(html, i, at);
      visible += char;
      i = end;
      continue;
    }
    if (c !== '<') {
      visible += c;
      i++;
      continue;
    }
    const begin = i;
    const where = `at byte offset ${bytes(begin)}`;
    i++;
    if (html[i] !== '/') {
      while (i < html.length && !SPACE.test(html[i]!) && html[i] !== '>') i++;
      if (i >= html.length) throw new ParseError(`Unclosed start tag ${where}`);
      const tag = html.slice(begin + 1, i).toLowerCase();
      if (!TAGS.has(tag)) throw new ParseError(`Unsupported start tag "${tag}" ${where}`);
      const open: Open = { tag, argument: '', unix: 0, offset: visible.length };
      while (html[i] !== '>') {
        skipSpace();
        if (html[i] === '>') break;
        const nameAt = i;
        while (i < html.length && !SPACE.test(html[i]!) && !'=>/"\''.includes(html[i]!)) i++;
        const name = html.slice(nameAt, i);
        if (!name) throw new ParseError(`Empty attribute name in the tag "${tag}" ${where}`);
        skipSpace();
        if (i >= html.length) throw new ParseError(`Unclosed start tag "${tag}" ${where}`);
        if (html[i] !== '=') {
          // An attribute without a value: only blockquote's `expandable` means anything.
          if (tag === 'blockquote' && name === 'expandable') open.argument = '1';
          continue;
        }
        i++;
        skipSpace();
        if (i >= html.length) throw new ParseError(`Unclosed start tag "${tag}" ${where}`);
        let value = '';
        const quote = html[i]!;
        if (quote === '"' || quote === "'") {
          i++;
          while (i < html.length && html[i] !== quote) {
            if (html[i] === '&') {
              const { char, end } = entityAt(html, i, at);
              value += char;
              i = end;
            } else value += html[i++];
          }
          if (i < html.length) i++;
        } else {
          NAME_TOKEN.lastIndex = i;
          value = NAME_TOKEN.exec(html)![0].toLowerCase();
          const tokenAt = i;
          i += value.length;
          if (i < html.length && !SPACE.test(html[i]!) && html[i] !== '>') throw new ParseError(`Unexpected end of name token at byte offset ${bytes(tokenAt)}`);
        }
        if (i >= html.length) throw new ParseError(`Unclosed start tag ${where}`);
        // The documented attributes; Telegram skips any other.
        if (tag === 'a' && name === 'href') open.argument = value;
        else if (tag === 'code' && name === 'class' && value.startsWith('language-')) open.argument = value.slice(9);
        else if (tag === 'span' && name === 'class' && value.startsWith('tg-')) open.argument = value.slice(3);
        else if (tag === 'tg-emoji' && name === 'emoji-id') open.argument = value;
        else if (tag === 'blockquote' && name === 'expandable') open.argument = '1';
        else if (tag === 'tg-time' && name === 'unix') open.unix = /^\d{1,10}$/.test(value) ? Number(value) : 0;
        else if (tag === 'tg-time' && name === 'format') open.argument = value;
      }
      if (tag === 'span' && open.argument !== 'spoiler') throw new ParseError(`Tag "span" must have class "tg-spoiler" ${where}`);
      stack.push(open);
      i++;
      continue;
    }
    if (stack.length === 0) throw new ParseError(`Unexpected end tag ${where}`);
    while (i < html.length && !SPACE.test(html[i]!) && html[i] !== '>') i++;
    const name = html.slice(begin + 2, i).toLowerCase();
    skipSpace();
    if (html[i] !== '>') throw new ParseError(`Unclosed end tag ${where}`);
    const open = stack.pop()!;
    // `</>` closes whatever is open.
    if (name && name !== open.tag) throw new ParseError(`Unmatched end tag ${where}, expected "</${open.tag}>", found "</${name}>"`);
    i++;
    const entity = entityOf(open, visible.length - open.offset, entities, visible);
    if (entity) entities.push(entity);
  }
  if (stack.length > 0) throw new ParseError(`Can't find end tag corresponding to start tag "${stack.at(-1)!.tag}"`);
  // As Telegram lists them: by where they start, the outer one first.
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  for (const e of entities) if (e.type === 'code') delete e.language;
  return { visible, entities };
}

/** The entity a closed tag makes; an empty one makes none. `pre` around a `code` with a language is one entity. */
function entityOf(open: Open, length: number, entities: HtmlEntity[], visible: string): HtmlEntity | undefined {
  if (length <= 0) return undefined;
  const { tag, argument: arg, offset } = open;
  const span = { offset, length };
  const last = entities.at(-1);
  const same = last !== undefined && last.offset === offset && last.length === length;
  if (KIND[tag]) return { type: KIND[tag], ...span };
  switch (tag) {
    case 'a': {
      const url = arg || visible.slice(offset);
      return { type: 'text_link', ...span, url };
    }
    case 'tg-emoji':
      if (!/^-?\d{1,19}$/.test(arg) || BigInt(arg) === 0n || BigInt(arg) > INT64_MAX || BigInt(arg) < -INT64_MAX - 1n) throw new ParseError('Invalid custom emoji identifier specified');
      return { type: 'custom_emoji', ...span, custom_emoji_id: arg };
    case 'tg-time':
      if (!/^([rR]|[tTdDwW]*)$/.test(arg)) throw new ParseError('Invalid date format used');
      return open.unix > 0 ? { type: 'date_time', ...span, unix_time: open.unix, ...(arg ? { date_time_format: arg } : {}) } : undefined;
    case 'code':
      if (same && last.type === 'pre' && arg) {
        entities.pop();
        return { type: 'pre', ...span, language: arg };
      }
      // The language waits for a `pre` around it; a code entity alone has none (below).
      return { type: 'code', ...span, ...(arg ? { language: arg } : {}) };
    case 'pre':
      if (same && last.type === 'code' && last.language) {
        entities.pop();
        return { type: 'pre', ...span, language: last.language };
      }
      return { type: 'pre', ...span };
    case 'blockquote':
      return { type: arg ? 'expandable_blockquote' : 'blockquote', ...span };
    default:
      throw new Error(`no entity for <${tag}>`);
  }
}
