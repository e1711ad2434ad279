import type { Dialect, Limit } from '../../../core/render/index.js';

export const DIALECTS: Dialect[] = ['telegram-html', 'slack-mrkdwn', 'slack-text', 'discord', 'whatsapp', 'plain', 'html'];
export const ZWSP = '\u200b';

const measure = (s: string, unit: Limit['unit']): number => (unit === 'utf8' ? Buffer.byteLength(s, 'utf8') : s.length);

/**
 * What the platform counts, computed independently of the renderer: Telegram counts the text left once it has parsed
 * the HTML ("1-4096 characters after entities parsing"), the others what is sent.
 */
export const cost = (s: string, unit: Limit['unit'], dialect: Dialect): number =>
  measure(dialect === 'telegram-html' ? telegramText(s) : s, unit);

/** The length of Telegram HTML's tags, which the splitter keeps within the limit too (Telegram caps entities' size). */
export const tagCost = (s: string, unit: Limit['unit']): number => measure((s.match(/<[^>]*>/g) ?? []).join(''), unit);

const decodeEntities = (s: string): string => s.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');

/** Undoes a dialect's escaping of plain text, as the platform's client would when showing it. */
export function unescape(dialect: Dialect, s: string): string {
  switch (dialect) {
    case 'telegram-html':
    case 'slack-text':
    case 'html':
      return decodeEntities(s);
    case 'slack-mrkdwn':
      return decodeEntities(s.replaceAll(ZWSP, ''));
    case 'discord':
      // Discord shows a URL in <…> without the brackets.
      return s.replace(/<(https?:\/\/[^\s<>]+)>/g, '$1').replace(/\\([^\sA-Za-z0-9])/gu, '$1');
    case 'whatsapp':
      return s.replaceAll(ZWSP, '');
    case 'plain':
      return s;
  }
}

/** The comparison "modulo whitespace at cut points": cuts only ever drop whitespace. */
export const squash = (s: string): string => s.replace(/\s+/g, '');

const TELEGRAM_TAGS = new Set(['b', 'i', 's', 'code', 'pre', 'a', 'blockquote']);

/**
 * A tiny checker for Telegram's HTML parse mode: only its tags, balanced and properly nested, attributes quoted,
 * no stray `<` or `>`, and `&` only in an entity. Returns what is wrong, or undefined.
 */
export function telegramHtmlProblem(s: string): string | undefined {
  const stack: string[] = [];
  const tag = /<(\/?)([a-z]+)((?:\s+[a-z]+="[^"<>]*")*)>/y;
  for (let k = 0; k < s.length; ) {
    const c = s[k]!;
    if (c === '>') return `stray > at ${k}`;
    if (c === '&') {
      const entity = /&(?:lt|gt|amp|quot|#\d+);/y;
      entity.lastIndex = k;
      if (!entity.test(s)) return `bare & at ${k}`;
      k = entity.lastIndex;
      continue;
    }
    if (c !== '<') {
      k++;
      continue;
    }
    tag.lastIndex = k;
    const m = tag.exec(s);
    if (!m) return `stray < at ${k}`;
    const [, closing, name = ''] = m;
    if (!TELEGRAM_TAGS.has(name)) return `unknown tag <${name}>`;
    if (!closing) stack.push(name);
    else if (stack.pop() !== name) return `</${name}> does not close the innermost open tag`;
    k = tag.lastIndex;
  }
  return stack.length ? `unclosed <${stack.join('>, <')}>` : undefined;
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

/** Telegram HTML reduced to the text it shows: tags dropped, `&lt;` `&gt;` `&amp;` `&quot;` `&#NN;` decoded, in one pass. */
export const telegramText = (s: string): string =>
  s
    .replace(/<[^>]*>/g, '')
    .replace(/&(?:#(\d+)|(lt|gt|amp|quot));/g, (_, code: string | undefined, name: string | undefined) =>
      name ? NAMED[name]! : String.fromCodePoint(Number(code)),
    );
