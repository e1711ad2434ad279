import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { terminalText } from '../../src/terminal-text.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('mc-chat-terminal-');
});
afterEach(() => tmp.remove());

describe('what the terminal chat prints', () => {
  it('shows control characters as text: an escape sequence in a reply never reaches the terminal as one', async () => {
    // Echo repeats the message: the reply carries the sequences a backend could send.
    const r = await runCli(['chat', '--once'], { cwd: tmp.dir, input: 'red \u001b[31mRED\u001b[0m \u001b]0;title\u0007 done' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('red \u241b[31mRED\u241b[0m \u241b]0;title\u2407 done\n');
  });

  it('keeps tabs and line breaks, and pictures the rest of C0, DEL and C1', () => {
    expect(terminalText('a\tb\nc')).toBe('a\tb\nc');
    expect(terminalText('over\rwrite\u007f\u009b2J\u0000')).toBe('over\u240dwrite\u2421\ufffd2J\u2400');
    expect(terminalText('plain text, émoji 😀')).toBe('plain text, émoji 😀');
  });
});
