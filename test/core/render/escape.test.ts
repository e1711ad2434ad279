import { describe, expect, it } from 'vitest';
import { type Dialect, type Limit, PLATFORM_DIALECTS, PLATFORM_LIMITS, renderReply } from '../../../core/render/index.js';
import { DIALECTS, unescape, ZWSP } from './helpers.js';

const BIG: Limit = { max: 100_000, unit: 'utf16' };
const plain = (text: string, dialect: Dialect): string => {
  const parts = renderReply(text, 'plain', dialect, BIG);
  expect(parts).toHaveLength(1);
  return parts[0]!;
};

describe('plain replies are escaped so they show exactly as typed', () => {
  it('Telegram HTML: &, < and > become entities', () => {
    expect(plain('a < b && c > d <b>x</b>', 'telegram-html')).toBe('a &lt; b &amp;&amp; c &gt; d &lt;b&gt;x&lt;/b&gt;');
  });

  it('Slack: a typed <@U123>, <!channel> or <http://x|y> never becomes a mention or a link', () => {
    expect(plain('<@U123>', 'slack-mrkdwn')).toBe('&lt;@U123&gt;');
    expect(plain('hi <!channel> see <http://x|y> & co', 'slack-mrkdwn')).toBe('hi &lt;!channel&gt; see &lt;http://x|y&gt; &amp; co');
  });

  it('Slack: formatting markers get zero-width spaces, so *x* is not bold', () => {
    const out = plain('*not bold* _x_ ~y~', 'slack-mrkdwn');
    expect(out).not.toMatch(/(^|\s)\*[^\s\u200b]/);
    expect(out).toContain(`${ZWSP}*${ZWSP}not bold${ZWSP}*${ZWSP}`);
    expect(unescape('slack-mrkdwn', out)).toBe('*not bold* _x_ ~y~');
  });

  it('Slack: a typed > starting a line (or a word a cut may put there) is not a quote', () => {
    const typed = '> not a quote\n>>> nor this\nbut a > b stays';
    const out = plain(typed, 'slack-mrkdwn');
    expect(out).not.toMatch(/(^|\s)&gt;/);
    expect(unescape('slack-mrkdwn', out)).toBe(typed);
  });

  it('Discord: markdown metacharacters and chips are backslash-escaped; @everyone is left to allowed_mentions', () => {
    expect(plain('*not bold*', 'discord')).toBe('\\*not bold\\*');
    expect(plain('a_b ~~c~~ `d` ||e|| \\ [x](https://y.z)', 'discord')).toBe(
      'a\\_b \\~\\~c\\~\\~ \\`d\\` \\|\\|e\\|\\| \\\\ \\[x\\](https://y.z)',
    );
    // What Discord draws as a chip (a user, role, channel, emoji, time or command) is shown as typed.
    expect(plain('@everyone <@123> <@&4> <#5> <:k:6> <a:k:7> <t:1700000000:R> </help:1> a<b', 'discord')).toBe(
      '@everyone \\<@123> \\<@&4> \\<#5> \\<:k:6> \\<a:k:7> \\<t:1700000000:R> \\</help:1> a<b',
    );
  });

  it('Discord: quotes, headings, subtext and list markers are escaped wherever a cut could put them at a line start', () => {
    expect(plain('> q\n# h\n-# small\n- item\n  + item\n12. n\n3) m', 'discord')).toBe(
      '\\> q\n\\# h\n\\-# small\n\\- item\n  \\+ item\n12\\. n\n3\\) m',
    );
    expect(plain('a > b - c # d 1. e', 'discord')).toBe('a \\> b \\- c \\# d 1\\. e');
    expect(plain('a>b c-d #e f#g 3.14 v2.', 'discord')).toBe('a>b c-d \\#e f#g 3.14 v2.');
  });

  it('Discord and WhatsApp leave URLs whole, so they still link', () => {
    expect(plain('see https://example.com/a_b*c_d.', 'discord')).toBe('see https://example.com/a_b*c_d.');
    expect(plain('see https://example.com/a_b_c', 'whatsapp')).toBe('see https://example.com/a_b_c');
    // E-mail addresses too, where a marker stands within a word; one that could open a pair is still broken.
    expect(plain('mail user_name@example.com or _x@example.com', 'whatsapp')).toBe(`mail user_name@example.com or ${ZWSP}_${ZWSP}x@example.com`);
    expect(plain('mail first_last@example.org', 'slack-mrkdwn')).toBe('mail first_last@example.org');
    // A marker after the URL is not part of it.
    // Discord's linker would take a backslash after a URL into the link: such a URL is fenced in <…> instead.
    expect(plain('*https://x.com*', 'discord')).toBe('\\*<https://x.com>\\*');
    expect(plain('[https://x.com/a_] and https://x.com\\b', 'discord')).toBe('\\[<https://x.com/a>\\_\\] and <https://x.com>\\\\b');
    expect(plain('(https://x.com/a_b).', 'discord')).toBe('(https://x.com/a_b).');
    expect(plain('<https://x.com>', 'discord')).toBe('\\<<https://x.com>>');
    expect(plain('see https://x.com<@123> <id:customize>', 'discord')).toBe('see <https://x.com>\\<@123> \\<id:customize>');
  });

  it('WhatsApp: *x*, _x_, ~x~ and ``` pairs are broken with U+200B, and a leading > is no quote', () => {
    const out = plain('*not bold* _no_ ~no~ ```no```\n> not a quote', 'whatsapp');
    for (const marker of ['*', '_', '~', '`']) expect(out).not.toMatch(new RegExp(`(^|[^\\u200b])\\${marker}[^\\u200b]`));
    expect(out).toContain(`\n${ZWSP}> not a quote`);
    expect(unescape('whatsapp', out)).toBe('*not bold* _no_ ~no~ ```no```\n> not a quote');
  });

  it('the plain dialect leaves text unchanged, whitespace included', () => {
    const text = '  *a* <b> &amp; \\_ \n\n  end  ';
    expect(plain(text, 'plain')).toBe(text);
  });

  it.each(DIALECTS)('%s: escaping round-trips for tricky text', (dialect) => {
    const text = 'x < y & z > w *a* _b_ ~c~ `d` ```e``` \\ | [f](g) # h\n> i\n- j\n1. k 👍🏽 e\u0301 你好。';
    expect(unescape(dialect, plain(text, dialect))).toBe(text);
  });

  it('an empty or blank input yields no parts', () => {
    for (const dialect of DIALECTS) {
      expect(renderReply('', 'plain', dialect, BIG)).toEqual([]);
      expect(renderReply('', 'markdown', dialect, BIG)).toEqual([]);
      expect(renderReply(' \n\t ', 'plain', dialect, BIG)).toEqual([]);
    }
  });

  it('a lone surrogate from a careless caller becomes U+FFFD rather than a broken send', () => {
    expect(renderReply('a\ud800b', 'plain', 'plain', BIG)).toEqual(['a\ufffdb']);
  });
});

describe('limits', () => {
  it('match the platforms (DESIGN, platform facts)', () => {
    expect(PLATFORM_LIMITS.telegram).toEqual({ max: 4096, unit: 'utf16' });
    expect(PLATFORM_LIMITS.slack).toEqual({ max: 4000, unit: 'utf16' });
    expect(PLATFORM_LIMITS.discord).toEqual({ max: 2000, unit: 'utf16' });
    expect(PLATFORM_LIMITS.whatsapp).toEqual({ max: 65_536, unit: 'utf16' });
    expect(PLATFORM_LIMITS.signal).toEqual({ max: 2000, unit: 'utf8' });
    expect(PLATFORM_LIMITS.email.max).toBeGreaterThanOrEqual(1_000_000);
    expect(PLATFORM_DIALECTS.signal).toBe('plain');
  });

  it('cannot be changed by one caller for all', () => {
    expect(() => {
      (PLATFORM_LIMITS.slack as { max: number }).max = 10;
    }).toThrow(TypeError);
  });

  it('refuses a limit too small to make progress, or nonsense', () => {
    expect(() => renderReply('hi', 'plain', 'plain', { max: 8, unit: 'utf16' })).toThrow(RangeError);
    expect(() => renderReply('hi', 'plain', 'plain', { max: 1.5e3 + 0.5, unit: 'utf16' })).toThrow(RangeError);
    expect(() => renderReply('hi', 'plain', 'plain', { max: 100, unit: 'bytes' as 'utf8' })).toThrow(RangeError);
  });
});
