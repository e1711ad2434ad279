/** What a terminal acts on instead of showing: C0 controls but tab and line feed, DEL, and the C1 controls. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Text from a user or a backend as a terminal must show it: as text. An escape sequence in a reply would otherwise
 * recolour the screen, retitle the window or rewrite what was printed before it. Each control character becomes
 * its visible picture (ESC as ␛, carriage return as ␍, DEL as ␡); C1 controls, which have none, become U+FFFD.
 */
export const terminalText = (text: string): string =>
  text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 ? String.fromCharCode(0x2400 + code) : code === 0x7f ? '\u2421' : '\ufffd';
  });

/**
 * `terminalText` for one line of output: tab and line feed shown as their pictures too. Text a platform or backend
 * wrote (an error's description) cannot start a line of its own, such as a forged log entry under `start`'s.
 */
export const terminalLine = (text: string): string => terminalText(text).replace(/[\t\n]/g, (c) => (c === '\t' ? '\u2409' : '\u240a'));
