import fc from 'fast-check';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';
import { re2Source } from '../../plugs/re2-pattern.js';

const compiles = (compile: () => unknown): boolean => {
  try {
    compile();
    return true;
  } catch {
    return false;
  }
};

describe('custom patterns rewritten for RE2', () => {
  it('match where JavaScript RegExps match, for patterns and texts built from the pieces that differ', () => {
    const piece = fc.constantFrom('a', 'b', ' ', '.', '\\s', '\\S', '+', '*', '?', '[', ']', '^', '-', '|', '(', ')', '\\u00a0', '$');
    const char = fc.constantFrom('a', 'b', ' ', '\u00a0', '\u3000', '\r', '\n', '\u2028', '-', 'x');
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 7 }), fc.array(char, { maxLength: 10 }), fc.boolean(), (pieces, chars, dotAll) => {
        const pattern = pieces.join('');
        const text = chars.join('');
        const flags = dotAll ? 's' : '';
        if (!compiles(() => new RegExp(pattern, flags)) || !compiles(() => RE2JS.compile(re2Source(pattern, dotAll), dotAll ? RE2JS.DOTALL : 0))) return;
        // The plug refuses a pattern that matches the empty string (where the engines' preferences among empty
        // alternatives differ): only the others are its to run.
        if (new RegExp(pattern, flags).test('')) return;
        // A repeated group with an alternative that matches nothing (`a(|b)?`) is where the engines part (README).
        if (/\(\||\|\||\|\)/.test(pattern)) return;
        const js = new RegExp(pattern, flags).exec(text)?.[0];
        const re2 = RE2JS.compile(re2Source(pattern, dotAll), dotAll ? RE2JS.DOTALL : 0).matcher(text);
        expect(re2.find() ? re2.group() : undefined).toBe(js);
      }),
      { numRuns: 10_000, seed: 20261127 },
    );
  });
});
