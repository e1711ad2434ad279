/**
 * Access identities, `platform:id` (DESIGN.md "Identities"). Entries must name the stable ids the connectors put
 * on events: an entry that can never match (a Telegram @username, a WhatsApp phone number without its JID suffix)
 * would look like an allowlist entry while admitting nobody, so it is refused where it is written.
 */
const SHAPE = /^([a-z][a-z0-9-]{0,31}):(\S{1,256})$/;

/** Per platform: the id's form, and how to say it. */
const STABLE_IDS: Record<string, { form: RegExp; says: string }> = {
  telegram: { form: /^-?[1-9]\d{0,19}$/, says: 'a numeric user or chat id (e.g. telegram:123456789); @usernames change' },
  discord: { form: /^[1-9]\d{0,19}$/, says: 'a numeric user, channel or guild id (e.g. discord:80351110224678912)' },
  slack: { form: /^[A-Z0-9]{2,32}$/, says: 'a user or channel id (e.g. slack:U0123ABCD), not a name' },
  // The forms the connector puts on events: a person's number or LID, a group; no device suffix, no `@c.us`.
  whatsapp: {
    form: /^(\d{5,20}@s\.whatsapp\.net|\d{5,25}@lid|\d{5,25}(-\d{5,15})?@g\.us)$/,
    says: 'a JID as the connector sees it (e.g. whatsapp:15551234567@s.whatsapp.net, a @lid or a @g.us group)',
  },
  // The connector lower-cases addresses, and entries are compared exactly.
  email: { form: /^[^@\sA-Z]+@[^@\sA-Z]+$/, says: 'an address in lower case (e.g. email:alice@example.org)' },
  // A person is their uuid (a number can be hidden or change), a group its base64 id.
  signal: {
    form: /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9+/]{22,86}={0,2})$/,
    says: 'a lower-case uuid (e.g. signal:a11ce000-1d2e-4f3a-8b4c-5d6e7f809102) or a base64 group id, not a phone number',
  },
};

/**
 * The gateway's own surfaces, whose ids it makes itself: the terminal, the dashboard's one login, an API key's id
 * (`apikey list`). There are no wildcards: `api:*` would admit or deny nobody.
 */
const LOCAL_SURFACES: Record<string, { form: RegExp; says: string }> = {
  loopback: { form: /^local$/, says: 'loopback:local, the terminal chat' },
  web: { form: /^admin$/, says: 'web:admin, the dashboard login' },
  api: { form: /^[A-Za-z0-9]{8}$/, says: 'an API key id as `apikey list` prints it (e.g. api:Q2x7Rk9a); there are no wildcards' },
};

/** Why `value` is not a usable identity, or undefined when it is one. */
export function identityProblem(value: string): string | undefined {
  const m = SHAPE.exec(value);
  if (!m) return 'must be platform:id, e.g. telegram:123456789';
  const [platform, id] = [m[1]!, m[2]!];
  const rule = STABLE_IDS[platform] ?? LOCAL_SURFACES[platform];
  if (!rule) return `${platform} is no platform the gateway talks to (${[...Object.keys(STABLE_IDS), ...Object.keys(LOCAL_SURFACES)].join(', ')})`;
  return rule.form.test(id) ? undefined : `${/^[aeiou]/.test(platform) ? 'an' : 'a'} ${platform} identity must be ${rule.says}`;
}
