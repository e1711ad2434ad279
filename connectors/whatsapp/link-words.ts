import { z } from 'zod';

/** Where the connector keeps its link status (connector state `<name>`, this key), for doctor and the dashboard. */
export const STATUS_KEY = 'status';
/** Where the QR code WhatsApp waits for is kept while a link is pending, sealed (the dashboard draws it). */
export const QR_KEY = 'qr';

/** The link status as stored, read back loosely: the dashboard must not fail on an older shape. */
const storedStatus = z.object({ state: z.string(), attempt: z.number().optional() });

/**
 * What a running WhatsApp process is doing about its link, in a few words for the dashboard's process row; undefined
 * once the link is open. A process waiting for a QR scan, or for WhatsApp to answer, runs without crashing: its
 * process state alone ("running") would say all is well.
 */
export function linkWords(status: unknown): string | undefined {
  const parsed = storedStatus.safeParse(status);
  if (!parsed.success) return 'not connected yet';
  const { state, attempt } = parsed.data;
  switch (state) {
    case 'open':
      return undefined;
    case 'qr':
      return 'not linked: waiting for the QR code to be scanned (Linking)';
    case 'connecting':
      return 'connecting to WhatsApp';
    case 'reconnecting':
      return `connection lost, reconnecting${attempt ? ` (attempt ${attempt})` : ''}`;
    case 'logged_out':
      return 'logged out: re-link required';
    case 'refused':
      return 'refused (another client took the link, or WhatsApp refused the account)';
    default:
      return 'not connected yet';
  }
}
