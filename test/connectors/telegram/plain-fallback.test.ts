import { describe, expect, it } from 'vitest';
import { htmlToPlain } from '../../../connectors/telegram/send.js';

describe('plain-text fallback', () => {
  it('turns rendered Telegram HTML back into the text as the user should read it', () => {
    expect(htmlToPlain('<b>bold</b> &lt;tag&gt; &amp; &quot;q&quot; &#39;s&#x27; <a href="https://x.org/?a=1&amp;b=2">link</a>')).toBe(
      'bold <tag> & "q" \'s\' link',
    );
    expect(htmlToPlain('<pre><code class="language-ts">if (a &lt; b) {}</code></pre>')).toBe('if (a < b) {}');
    expect(htmlToPlain('&unknown; &#xFFFFFFF;')).toBe('&unknown; &#xFFFFFFF;');
  });
});
