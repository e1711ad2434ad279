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

/** What stdin may carry for a secret: the vault's 1 MiB, and a line break after it. */
export const MAX_SECRET_INPUT_BYTES = 1024 * 1024 + 2;

/**
 * All of a piped stdin as UTF-8 text, at most `maxBytes`. Bytes that are not UTF-8 are refused, not replaced by
 * U+FFFD; more than `maxBytes` is refused before the rest is read, so a mistaken pipe (a disk image, /dev/zero) is
 * not held in memory. `refusal` ends each error message: what did not happen because of it.
 */
export async function readPipedText(maxBytes: number, refusal: { tooLarge: string; notText: string }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new UsageError(`stdin holds more than ${Math.floor(maxBytes / 1024)} KiB: ${refusal.tooLarge}`);
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new UsageError(`stdin is not UTF-8 text: ${refusal.notText}`);
  }
}

/**
 * A secret value, never from argv: a hidden prompt on a terminal, otherwise all of stdin less one trailing newline
 * (so `printf %s "$TOKEN" | …` and `echo "$TOKEN" | …` store the same value). A Latin-1 password or a binary token
 * is refused: stored as U+FFFD it would fail later, far from here.
 */
export async function readSecretInput(prompt: string, maxBytes = MAX_SECRET_INPUT_BYTES): Promise<string> {
  if (process.stdin.isTTY) return hiddenPrompt(prompt);
  const text = await readPipedText(maxBytes, {
    tooLarge: 'that is no secret; nothing was stored',
    notText: 'nothing was stored (a binary value must be encoded first, e.g. base64)',
  });
  return text.replace(/\r?\n$/, '');
}
