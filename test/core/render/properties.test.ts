import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Dialect, type Limit, renderReply } from '../../../core/render/index.js';
import { cost, DIALECTS, squash, tagCost, telegramHtmlProblem, telegramText, unescape, ZWSP } from './helpers.js';

// Text built from the pieces that break renderers: markup characters of every dialect, entities, emoji and
// combining marks, long runs with no whitespace, code fences, list and quote starts, links good and bad.
const fragment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('word', 'Hello', 'a', 'x', 'ünï', '你好', '。', 'שלום', '123') },
  { weight: 5, arbitrary: fc.constantFrom(' ', ' ', '  ', '\n', '\n\n', '\t', '\r\n', '\u00a0') },
  { weight: 2, arbitrary: fc.constantFrom('.', '!', '?', ',', '. ', '." ') },
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      '<', '>', '&', '*', '_', '~', '`', '```', '\\', '|', '#', '[', ']', '(', ')', '-', '+', '1.', '2)',
      '**', '~~', '&amp;', '&lt;', '<b>', '</b>', '<@U123>', '<!channel>', '@everyone', ZWSP,
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom('😀', '👩‍👩‍👧', '👍🏽', '🇫🇷', 'e\u0301', '1️⃣', '\ud83d') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'https://x.y/a_b', 'http://e.com/*x*', 'mailto:a@b.c', '[l](https://x.y)', '[j](javascript:alert(1))',
      '![i](https://x.y/i.png)', '<https://x.y>', '[r][1]', '\n\n[1]: https://x.y/r\n',
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom('```js\n', '\n```\n', '~~~\n', '    ', '\n> ', '\n- ', '\n1. ', '\n# ', '\n---\n') },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('x', '😀', '<', '&', '*', '\\', 'ab', '👩‍👩‍👧'), fc.integer({ min: 10, max: 150 }))
      .map(([c, n]) => c.repeat(n)),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
);
const textArb = fc.array(fragment, { maxLength: 60 }).map((pieces) => pieces.join(''));
const limitArb: fc.Arbitrary<Limit> = fc.record({
  max: fc.oneof(fc.integer({ min: 16, max: 64 }), fc.integer({ min: 65, max: 600 })),
  unit: fc.constantFrom('utf16' as const, 'utf8' as const),
});
const dialectArb = fc.constantFrom(...DIALECTS);
const RUNS = { numRuns: Number(process.env.RENDER_RUNS ?? 150) };
const HUGE: Limit = { max: 10_000_000, unit: 'utf16' };

/** What every part must be, whatever it came from. */
function checkParts(parts: string[], dialect: Dialect, limit: Limit): void {
  for (const part of parts) {
    expect(cost(part, limit.unit, dialect)).toBeLessThanOrEqual(limit.max);
    expect(part.isWellFormed()).toBe(true);
    expect(part).toMatch(/\S/);
    if (dialect === 'telegram-html') {
      expect(telegramHtmlProblem(part)).toBeUndefined();
      expect(tagCost(part, limit.unit)).toBeLessThanOrEqual(limit.max);
    }
  }
}

/** Markup a dialect adds (and repeats at cuts) removed, so split and unsplit renderings compare by their text. */
function shown(dialect: Dialect, s: string): string {
  switch (dialect) {
    case 'telegram-html':
    case 'html':
      return telegramText(s);
    case 'plain':
      return s;
    case 'discord':
      return s.replace(/```[\w+#.-]*/g, '').replace(/(?<!\\)\]\(https?:[^)\s]*\)/g, '').replace(/[*_~`[\]\\]/g, '');
    default:
      return s.replace(/[*_~`\u200b]/g, '');
  }
}

describe('renderReply properties', () => {
  it('plain text: every part fits and is well-formed, and the parts give back the text, in order', () => {
    fc.assert(
      fc.property(textArb, dialectArb, limitArb, (text, dialect, limit) => {
        const parts = renderReply(text, 'plain', dialect, limit);
        checkParts(parts, dialect, limit);
        const strip = (s: string) => (dialect === 'whatsapp' || dialect === 'slack-mrkdwn' ? s.replaceAll(ZWSP, '') : s);
        expect(squash(unescape(dialect, parts.join('')))).toBe(squash(strip(text.toWellFormed())));
      }),
      RUNS,
    );
  });

  it('markdown: every part fits and is well-formed, and cutting loses or reorders nothing', () => {
    fc.assert(
      fc.property(textArb, dialectArb, limitArb, (text, dialect, limit) => {
        const parts = renderReply(text, 'markdown', dialect, limit);
        checkParts(parts, dialect, limit);
        const whole = renderReply(text, 'markdown', dialect, HUGE);
        expect(whole.length).toBeLessThanOrEqual(1);
        // Discord code is raw: a masked link's closing `](url)`, repeated at cuts, cannot be told from code text.
        if (dialect === 'discord' && whole.join('').includes('`')) return;
        expect(squash(shown(dialect, parts.join('')))).toBe(squash(shown(dialect, whole.join(''))));
      }),
      RUNS,
    );
  });

  it('a reply that fits is sent whole, exactly as rendered', () => {
    fc.assert(
      fc.property(textArb, dialectArb, fc.constantFrom('plain' as const, 'markdown' as const), (text, dialect, format) => {
        const whole = renderReply(text, format, dialect, HUGE);
        const limit: Limit = { max: Math.max(16, whole[0]?.length ?? 0), unit: 'utf16' };
        expect(renderReply(text, format, dialect, limit)).toEqual(whole);
      }),
      RUNS,
    );
  });

  it('markdown never renders a link to anything but http(s) or mailto', () => {
    const href = fc.constantFrom('javascript:alert(1)', 'data:text/html,x', 'vbscript:x', 'file:///etc/passwd', 'tg://user?id=1', '//x.y');
    fc.assert(
      fc.property(textArb, href, dialectArb, (label, url, dialect) => {
        const out = renderReply(`[${label.replace(/[[\]\n\r]/g, '')}x](${url}) ![y](${url})`, 'markdown', dialect, HUGE).join('');
        if (dialect === 'telegram-html') expect(out).not.toMatch(/href="(?!https?:|mailto:)/);
        if (dialect === 'slack-mrkdwn') expect(out).not.toMatch(/<(?!https?:|mailto:)[a-z]+:/i);
        if (dialect === 'discord') expect(out).not.toMatch(/(?<!\\)\]\((?!https?:)/);
      }),
      RUNS,
    );
  });
});
