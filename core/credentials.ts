/**
 * Shapes of live credentials, shared by the secret redactor (logs, audit, errors, pages) and the redact plug
 * (what models see). Each is anchored on a boundary (a lookbehind or a fixed prefix) so hostile input is scanned
 * in linear time.
 */
export const TOKEN_PATTERNS: readonly RegExp[] = [
  // PEM private keys; one cut off before its END line is masked to the end of the text.
  /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)/g,
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, // JWT: base64url of `{"` opens it
  /(?<!\d)\d{8,10}:[A-Za-z0-9_-]{30,}/g, // Telegram bot token: 35 after the colon, but the docs show shorter ones
  /(?<![A-Za-z0-9])(?:xox[abprs]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})/g, // Slack bot/user/app tokens
  /(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}/g, // OpenAI, Anthropic (sk-ant-…) and look-alike API keys
  /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g, // AWS access key id
  /(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/g, // GitHub tokens
  /(?<![A-Za-z0-9_-])[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}/g, // Discord bot token
  /(?<![A-Za-z0-9_])mc_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}(?![A-Za-z0-9])/g, // our own API keys (core/auth.ts)
  /(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/g, // Google API key
  // The token of an Authorization header, whatever its issuer; the scheme stays readable.
  /(?<=\bBearer {1,3})[A-Za-z0-9._~+/-]{16,}=*/gi,
];

/**
 * Values named for what they are, whatever they look like. Unlike a token's shape, this masks text of any kind up
 * to the next space, which in a shell command may be more commands: a command put to an owner is masked with
 * TOKEN_PATTERNS alone (core/tool-governor.ts).
 */
export const NAMED_VALUE_PATTERNS: readonly RegExp[] = [
  // A value given to a name that says what it is, as in a URL, a form or an env file (`password=…`, `API_KEY=…`, no
  // spaces: prose writes `a token = …`), or a password in a config or a mail (`password: …`); the name stays
  // readable. A value runs to the next space or quote (passwords hold `&`, `;` and `,`), but not past a URL's next
  // `&name=`, and one closing `.`, `,`, `;` or `:` of a sentence is left out. A value that is a mask and nothing
  // else (the redact plug's `[redacted:credential]`) is left as it says. Bounded lookbehinds, and a lazy run that stops at the first
  // place it may: linear on any input.
  /(?<=(?<![A-Za-z0-9])(?:password|passwd|pwd|secret|client_secret|token|access_token|api[_-]?key)=["']?)(?!\[redacted(?::[a-z0-9-]+)?\](?:[.,;:]?(?:[\s"']|&[\w.-]*=|$)))[^\s"']{6,}?(?=[.,;:]?(?:[\s"']|&[\w.-]*=|$))/gi,
  /(?<=(?<![A-Za-z0-9])(?:password|passwd)\s{0,3}:\s{0,3}["']?)(?!\[redacted(?::[a-z0-9-]+)?\](?:[.,;:]?(?:[\s"']|$)))[^\s"']{6,}?(?=[.,;:]?(?:[\s"']|$))/gi,
];

export const CREDENTIAL_PATTERNS: readonly RegExp[] = [...TOKEN_PATTERNS, ...NAMED_VALUE_PATTERNS];

/** Does this whole value look like a live credential? */
export const looksLikeCredential = (value: string): boolean =>
  CREDENTIAL_PATTERNS.some((re) => new RegExp(`^(?:${re.source})$`).test(value.trim()));
