import { text as readAll } from 'node:stream/consumers';
import { UsageError } from './errors.js';

/** Reads one line from the terminal without echoing it. */
export function hiddenPrompt(question: string): Promise<string> {
  const { stdin, stderr } = process;
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    // Echo off before the question shows: an answer typed the moment it appears must not be echoed.
    stdin.setRawMode(true);
    stderr.write(question);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/**
 * A secret value, never from argv: a hidden prompt on a terminal, otherwise all of stdin less one trailing newline
 * (so `printf %s "$TOKEN" | …` and `echo "$TOKEN" | …` store the same value).
 */
export async function readSecretInput(prompt: string): Promise<string> {
  if (process.stdin.isTTY) return hiddenPrompt(prompt);
  return (await readAll(process.stdin)).replace(/\r?\n$/, '');
}
