import { describe, expect, it } from 'vitest';
import { htmlToPlain } from '../../../connectors/telegram/send.js';
import { PLATFORM_DIALECTS, PLATFORM_LIMITS, renderReply } from '../../../core/render/index.js';

describe('plain-text fallback', () => {
  it('turns rendered Telegram HTML back into the text as the user should read it', () => {
    expect(htmlToPlain('<b>bold</b> &lt;tag&gt; &amp; &quot;q&quot; &#39;s&#x27; <a href="https://x.org/?a=1&amp;b=2">link</a>', 4096)).toBe(
      'bold <tag> & "q" \'s\' link (https://x.org/?a=1&b=2)',
    );
    // A link's address is kept, once.
    const html = '<a href="https://e.com/a_(b)"><b>see</b> this</a> and <a href="https://e.com/">https://e.com/</a>';
    expect(htmlToPlain(html, 4096)).toBe('see this (https://e.com/a_(b)) and https://e.com/');
    expect(htmlToPlain('<pre><code class="language-ts">if (a &lt; b) {}</code></pre>', 4096)).toBe('if (a < b) {}');
    expect(htmlToPlain('&unknown; &#xFFFFFFF;', 4096)).toBe('&unknown; &#xFFFFFFF;');
  });

  it('never resends a part longer than the limit: addresses that do not fit leave the labels alone', () => {
    // Parts are cut by the text Telegram shows, so a link-heavy part is nearly full before its addresses.
    const markdown = Array.from({ length: 120 }, (_, i) => `${i}. read [the notes of chapter ${i}](https://docs.example.org/book/chapter-${i}/notes?ref=gateway)`).join('\n');
    const parts = renderReply(markdown, 'markdown', PLATFORM_DIALECTS.telegram, PLATFORM_LIMITS.telegram);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) {
      const plain = htmlToPlain(part, PLATFORM_LIMITS.telegram.max);
      expect(plain.length).toBeLessThanOrEqual(PLATFORM_LIMITS.telegram.max);
      expect(plain).toContain('the notes of chapter');
    }
    // The first part, written out with its addresses, would not have fitted.
    expect(htmlToPlain(parts[0]!, Infinity).length).toBeGreaterThan(PLATFORM_LIMITS.telegram.max);
  });
});
