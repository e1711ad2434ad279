import { text as readAll } from 'node:stream/consumers';

/** Reads a line from the terminal without echoing it. */
function hiddenPrompt(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let value = '';
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Error('cancelled'));
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
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
