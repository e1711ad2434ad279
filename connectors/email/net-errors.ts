import { plainNetError } from '../../core/net-errors.js';

/** What went wrong reaching a mail server, in plain words (doctor prints it): the network, or TLS on the wrong port. */
export function describeMailServerError(error: unknown, server: { host: string; port: number; secure: boolean }): string {
  const message = error instanceof Error ? error.message : String(error);
  const at = `${server.host}:${server.port}`;
  if (/wrong version number|packet length too long|unknown protocol/i.test(message)) {
    return server.secure
      ? `TLS failed: ${at} answered in plain text (for STARTTLS write starttls: true instead of secure: true, or use the server's TLS port)`
      : `TLS failed: ${at} speaks TLS from the first byte (write secure: true)`;
  }
  const plain = plainNetError(error, server);
  if (plain) return plain;
  const code = (error as { code?: unknown }).code;
  if (/certificate|self[- ]signed|CERT_|unable to verify/i.test(`${String(code)} ${message}`)) return `the certificate of ${at} is not trusted: ${message}`;
  return message;
}
