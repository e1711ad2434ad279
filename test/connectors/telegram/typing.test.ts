import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { htmlToPlain } from '../../../connectors/telegram/send.js';
import { Typing } from '../../../connectors/telegram/typing.js';

describe('telegram typing indicator', () => {
  it('fires at once, refreshes while the backend works, stops on the reply, and gives up after the maximum', async () => {
    const calls: string[] = [];
    const typing = new Typing(async (chat, thread) => void calls.push(`${chat}/${thread ?? ''}`), 40, 300);
    typing.start('1', undefined);
    typing.start('2', '7');
    expect(calls).toEqual(['1/', '2/7']);
    await sleep(130);
    typing.stop('1', undefined);
    const forOne = calls.filter((c) => c === '1/').length;
    expect(forOne).toBeGreaterThanOrEqual(3);
    await sleep(400);
    // Stopped by the reply: no more for chat 1. Given up after 300 ms for the topic in chat 2.
    expect(calls.filter((c) => c === '1/').length).toBe(forOne);
    const forTwo = calls.filter((c) => c === '2/7').length;
    expect(forTwo).toBeLessThanOrEqual(300 / 40 + 2);
    await sleep(150);
    expect(calls.filter((c) => c === '2/7').length).toBe(forTwo);
    typing.stopAll();
  });

  it('a failing chat action never throws', async () => {
    const typing = new Typing(() => Promise.reject(new Error('403 blocked')), 20, 100);
    typing.start('1', undefined);
    await sleep(60);
    typing.stopAll();
  });
});

describe('plain-text fallback', () => {
  it('turns rendered Telegram HTML back into the text as the user should read it', () => {
    expect(htmlToPlain('<b>bold</b> &lt;tag&gt; &amp; &quot;q&quot; &#39;s&#x27; <a href="https://x.org/?a=1&amp;b=2">link</a>')).toBe(
      'bold <tag> & "q" \'s\' link',
    );
    expect(htmlToPlain('<pre><code class="language-ts">if (a &lt; b) {}</code></pre>')).toBe('if (a < b) {}');
    expect(htmlToPlain('&unknown; &#xFFFFFFF;')).toBe('&unknown; &#xFFFFFFF;');
  });
});
