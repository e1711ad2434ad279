/**
 * Credentials whose value has a form of its own, which the config cannot check: it holds only the reference. Checked
 * where the value is first known (`start`, before a port opens), so a wrong one is a config error naming its field
 * rather than a child process that refuses it, crashes and is restarted for ever.
 */
export interface CredentialForm {
  path: readonly string[];
  form: RegExp;
  says: string;
}

/** Telegram's rule for setWebhook's secret_token. */
export const TELEGRAM_SECRET_TOKEN: CredentialForm = {
  path: ['connectors', 'telegram', 'webhook', 'secretToken'],
  form: /^[A-Za-z0-9_-]{1,256}$/,
  says: 'Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -',
};

const FORMS: readonly CredentialForm[] = [TELEGRAM_SECRET_TOKEN];

/** `field: what it must be` for each credential in `config` whose value (by its reference) has the wrong form; never the value. */
export function credentialFormProblems(config: unknown, valueOf: (ref: string) => string | undefined): string[] {
  return FORMS.flatMap(({ path, form, says }) => {
    const ref = path.reduce<unknown>((at, key) => (at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined), config);
    const value = typeof ref === 'string' ? valueOf(ref) : undefined;
    return value !== undefined && !form.test(value) ? [`${path.join('.')}: ${says}`] : [];
  });
}
