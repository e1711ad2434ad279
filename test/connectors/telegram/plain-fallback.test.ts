import { describe, expect, it } from 'vitest';
import { htmlToPlain } from '../../../connectors/telegram/send.js';

describe('plain-text fallback', () => {
  it('turns rendered Telegram HTML back into the text as the user should read it', () => {
    expect(htmlToPlain('<b>bold</b> &lt;tag&gt; &amp; &quot;q&quot; &#39;s&#x27; <a href="https://x.org/?a=1&amp;b=2">link</a>')).toBe(
      'bold <tag> & "q" \'s\' link (https://x.org/?a=1&b=2)',
    );
    // A link's address is kept, once; the plain text is never longer than the HTML it replaces.
    const html = '<a href="https://e.com/a_(b)"><b>see</b> this</a> and <a href="https://e.com/">https://e.com/</a>';
    expect(htmlToPlain(html)).toBe('see this (https://e.com/a_(b)) and https://e.com/');
    expect(htmlToPlain(html).length).toBeLessThan(html.length);
    expect(htmlToPlain('<pre><code class="language-ts">if (a &lt; b) {}</code></pre>')).toBe('if (a < b) {}');
    expect(htmlToPlain('&unknown; &#xFFFFFFF;')).toBe('&unknown; &#xFFFFFFF;');
  });
});
