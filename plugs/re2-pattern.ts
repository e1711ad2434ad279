/**
 * A custom redact pattern is written as a JavaScript RegExp and run on RE2 (re2js), whose classes differ in places:
 * RE2's `\s` is ASCII whitespace only (a pasted no-break space would slip by), its `.` also matches `\r` and the
 * Unicode line separators, and it writes `\uXXXX` as `\x{XXXX}`. Those are rewritten to keep JavaScript's meaning.
 * What RE2 cannot do at all (lookaround, backreferences) is refused when the pattern is compiled.
 */
const JS_SPACE = '\\t\\n\\v\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}';
const JS_DOT = '[^\\n\\r\\x{2028}\\x{2029}]';
const UNICODE_ESCAPE = /^\{([0-9a-fA-F]{1,6})\}|^([0-9a-fA-F]{4})/;

export function re2Source(pattern: string, dotAll: boolean): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      i++;
      if (next === 's') out += inClass ? JS_SPACE : `[${JS_SPACE}]`;
      else if (next === 'S') {
        if (inClass) throw new Error('\\S inside a character class cannot keep its meaning on RE2: list the characters instead');
        out += `[^${JS_SPACE}]`;
      } else if (next === 'u' && UNICODE_ESCAPE.test(pattern.slice(i + 1))) {
        const m = UNICODE_ESCAPE.exec(pattern.slice(i + 1))!;
        out += `\\x{${m[1] ?? m[2]}}`;
        i += m[0].length;
      } else out += `\\${next}`;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      // JavaScript's `[]` matches nothing and `[^]` anything; to RE2 a `]` first in a class is one of its members.
      if (pattern[i + 1] === ']') {
        out += '[^\\x{0}-\\x{10ffff}]';
        i += 1;
      } else if (pattern.startsWith('^]', i + 1)) {
        out += '[\\x{0}-\\x{10ffff}]';
        i += 2;
      } else {
        inClass = true;
        out += c;
      }
    } else out += c === '.' && !dotAll ? JS_DOT : c;
  }
  return out;
}
