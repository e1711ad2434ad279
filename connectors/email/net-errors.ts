/**
 * What went wrong reaching a mail server, in plain words: doctor prints these, and the raw texts ("connect
 * ECONNREFUSED", OpenSSL's "wrong version number") say nothing to someone who only wrote a config file.
 */
export function describeMailServerError(error: unknown, server: { host: string; port: number; secure: boolean }): string {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(error);
  const at = `${server.host}:${server.port}`;
  // nodemailer wraps socket errors (code ESOCKET) and keeps the system's code only in the message.
  const says = (...codes: string[]) => codes.some((c) => code === c || message.includes(c));
  if (says('ECONNREFUSED')) return `connection refused: nothing is listening at ${at}`;
  if (says('ENOTFOUND', 'EAI_AGAIN')) return `host ${server.host} not found`;
  if (says('EHOSTUNREACH', 'ENETUNREACH')) return `${at} cannot be reached from this machine`;
  if (/wrong version number|packet length too long|unknown protocol/i.test(message)) {
    return server.secure
      ? `TLS failed: ${at} answered in plain text (for STARTTLS write starttls: true instead of secure: true, or use the server's TLS port)`
      : `TLS failed: ${at} speaks TLS from the first byte (write secure: true)`;
  }
  if (/certificate|self[- ]signed|CERT_|unable to verify/i.test(`${code} ${message}`)) return `the certificate of ${at} is not trusted: ${message}`;
  if (says('ETIMEDOUT', 'ETIMEOUT') || /timed? ?out|greeting never received/i.test(message)) return `no answer from ${at} in time`;
  return message;
}
