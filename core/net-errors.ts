/**
 * A failed connection in plain words, for doctor and the dashboard: "connect ECONNREFUSED 127.0.0.1:7583" says
 * little to someone who only wrote a config file. Undefined when the error is not one of these (say it as it is).
 * Libraries wrap socket errors (nodemailer's ESOCKET) and keep the system's code only in the message: both are read.
 */
export function plainNetError(error: unknown, at: { host: string; port: number }): string | undefined {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(error);
  const says = (...codes: string[]) => codes.some((c) => code === c || message.includes(c));
  const where = `${at.host}:${at.port}`;
  if (says('ECONNREFUSED')) return `connection refused: nothing is listening at ${where}`;
  if (says('ENOTFOUND', 'EAI_AGAIN')) return `host ${at.host} not found`;
  if (says('EHOSTUNREACH', 'ENETUNREACH')) return `${where} cannot be reached from this machine`;
  if (says('ECONNRESET', 'EPIPE')) return `${where} closed the connection`;
  if (says('ETIMEDOUT', 'ETIMEOUT') || /timed? ?out|greeting never received/i.test(message)) return `no answer from ${where} in time`;
  return undefined;
}
