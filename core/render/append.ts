import { openFenceAtEnd } from './parse.js';

/**
 * A markdown reply with one more paragraph after it (a fallback's footer): a fence the reply left open (a model cut
 * off at its token limit) is closed first, or the paragraph would be shown as code.
 */
export function withParagraph(markdown: string, paragraph: string): string {
  const fence = openFenceAtEnd(markdown);
  return `${fence ? `${markdown}\n${fence}` : markdown}\n\n${paragraph}`;
}
