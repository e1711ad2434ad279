/**
 * Roughly Telegram's HTML parse_mode parser (https://core.telegram.org/bots/api#html-style): the supported tags,
 * balanced and properly nested, and `&lt; &gt; &amp; &quot;` plus numeric entities. It is a little stricter than
 * Telegram (a bare `&` is refused), so a connector that passes here is safe there.
 */
const TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'span', 'tg-spoiler', 'a', 'code', 'pre', 'blockquote', 'tg-emoji']);
const TAG = /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*)\s*>/y;
const ENTITY = /&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});/y;
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

export type HtmlResult = { ok: true; visible: string } | { ok: false; error: string };

export function parseTelegramHtml(html: string): HtmlResult {
  const stack: string[] = [];
  let visible = '';
  let i = 0;
  const at = () => `at byte offset ${Buffer.byteLength(html.slice(0, i))}`;
  while (i < html.length) {
    const c = html[i]!;
    if (c === '<') {
      TAG.lastIndex = i;
      const m = TAG.exec(html);
      if (!m) return { ok: false, error: `Unexpected end of name token ${at()}` };
      const name = m[2]!.toLowerCase();
      if (!TAGS.has(name)) return { ok: false, error: `Unsupported start tag "${name}" ${at()}` };
      if (m[1]) {
        const open = stack.pop();
        if (open !== name) return { ok: false, error: `Unmatched end tag ${at()}, expected "</${open ?? ''}>", found "</${name}>"` };
      } else stack.push(name);
      i += m[0].length;
      continue;
    }
    if (c === '&') {
      ENTITY.lastIndex = i;
      const m = ENTITY.exec(html);
      if (!m) return { ok: false, error: `Character entity expected ${at()}` };
      const e = m[1]!;
      const code = e[0] !== '#' ? 0 : e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      if (code > 0x10ffff) return { ok: false, error: `Character entity out of range ${at()}` };
      visible += NAMED[e] ?? String.fromCodePoint(code);
      i += m[0].length;
      continue;
    }
    visible += c;
    i++;
  }
  if (stack.length > 0) return { ok: false, error: `Can't find end tag corresponding to start tag "${stack.at(-1)}"` };
  return { ok: true, visible };
}
