/**
 * A shell command line cut into the simple commands it runs, so that a tool rule (`Bash:git status*`) is held
 * against each of them: matched against the whole line, `git status; rm -rf ~` would pass as `git status …`.
 *
 * Cuts at the control operators `;`, `&`, `&&`, `|`, `||`, `|&` and line breaks outside quotes. What a glob cannot
 * judge makes the line `opaque`: command substitution (`$(…)`, backticks, also inside double quotes), process
 * substitution and redirections (`<`, `>`), which run or write what no simple command names.
 */
export interface ShellCommands {
  /** Each simple command, trimmed; one (the trimmed line) when there is nothing to cut. */
  commands: string[];
  opaque: boolean;
}

// `bash -lc '…'`, as Codex reports the commands it runs: the script inside is what a rule is about.
const WRAPPED = /^\s*(?:\/(?:usr\/)?bin\/)?(?:ba|z|da)?sh\s+-l?c\s+'([^']*)'\s*$/;

export function shellCommands(line: string): ShellCommands {
  const script = WRAPPED.exec(line)?.[1];
  if (script !== undefined) return shellCommands(script);
  const commands: string[] = [];
  let current = '';
  let opaque = false;
  let quote: "'" | '"' | undefined;
  const cut = () => {
    if (current.trim()) commands.push(current.trim());
    current = '';
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      current += c;
      continue;
    }
    if (c === '\\') {
      // An escaped character is a plain one, quoted or not (a line continuation, `\` + newline, joins lines).
      current += c + (line[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '`' || (c === '$' && line[i + 1] === '(')) opaque = true;
    if (quote === '"') {
      if (c === '"') quote = undefined;
      current += c;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '<' || c === '>') opaque = true;
    else if (c === ';' || c === '&' || c === '|' || c === '\n' || c === '\r') {
      cut();
      continue;
    }
    current += c;
  }
  cut();
  return { commands: commands.length ? commands : [line.trim()], opaque };
}
