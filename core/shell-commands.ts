/**
 * A shell command line cut into the simple commands it runs, so that a tool rule (`Bash:git status*`) is held
 * against each of them: matched against the whole line, `git status; rm -rf ~` would pass as `git status …`.
 *
 * Cuts at the control operators `;`, `&`, `&&`, `|`, `||`, `|&` and line breaks outside quotes. What a glob cannot
 * judge makes the line `opaque`: command substitution (`$(…)`, backticks), every `${…}` and `$[…]` and `((…))`
 * (arithmetic and expansions run `$(…)` even inside single quotes there: `${a['$(cmd)']}`, `${x@P}`), all also
 * inside double quotes; process substitution and redirections (`<`, `>`); and what this reading of the line could
 * get wrong about where a command ends: a comment (`#`, whose quotes bash ignores), ANSI-C quoting (`$'…'`).
 */
export interface ShellCommands {
  /** Each simple command, trimmed; one (the trimmed line) when there is nothing to cut. */
  commands: string[];
  opaque: boolean;
}

const WORD_START = /[\s;&|()]/;

export function shellCommands(line: string): ShellCommands {
  const commands: string[] = [];
  let current = '';
  let opaque = false;
  let quote: "'" | '"' | undefined;
  const cut = () => {
    // A subshell's or a group's brackets, or a `!`, around a command leave it the same command: `(rm -rf ~)`.
    const command = current.trim().replace(/^[({!\s]+/, '').replace(/[)}\s]+$/, '');
    if (command) commands.push(command);
    current = '';
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const next = line[i + 1];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      current += c;
      continue;
    }
    if (c === '\\') {
      // An escaped character is a plain one, quoted or not (a line continuation, `\` + newline, joins lines).
      current += c + (next ?? '');
      i++;
      continue;
    }
    if (c === '`' || (c === '$' && (next === '(' || next === '{' || next === '['))) opaque = true;
    if (quote === '"') {
      if (c === '"') quote = undefined;
      current += c;
      continue;
    }
    if ((c === '$' && next === "'") || (c === '(' && next === '(')) opaque = true;
    if (c === '#' && (i === 0 || WORD_START.test(line[i - 1]!))) opaque = true;
    if (c === "'" || c === '"') quote = c;
    else if (c === '<' || c === '>') opaque = true;
    else if (c === ';' || c === '&' || c === '|' || c === '\n' || c === '\r') {
      cut();
      continue;
    }
    current += c;
  }
  cut();
  // A quote left open is a line bash refuses, or one read otherwise than here: judged as neither.
  return { commands: commands.length ? commands : [line.trim()], opaque: opaque || quote !== undefined };
}

// `bash -lc '…'` or `bash -lc word`, as Codex reports the commands it ran: the script inside is what a rule is about.
const WRAPPED = /^\s*(?:\/(?:usr\/)?bin\/)?(?:ba|z|da)?sh\s+-l?c\s+(?:'([^']*)'|([^\s'"\\;&|<>`$]+))\s*$/;

/** The script a `sh -c` wrapper runs, else the line itself. Only for a tool that reports commands so (Codex's `shell`). */
export function unwrapShell(line: string): string {
  const m = WRAPPED.exec(line);
  return m ? (m[1] ?? m[2]!) : line;
}
