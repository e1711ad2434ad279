import { raw } from 'hono/html';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { DashApp, DashContext } from './deps.js';
import { Page, render } from './layout.js';

const QR_STATE = z.object({ qr: z.string().min(1).max(4096), at: z.string() });
/** How often the page reloads itself while a link is pending: WhatsApp replaces its code about every 20 s. */
const REFRESH_SECONDS = 5;

/**
 * `/linking`: the QR code WhatsApp is waiting for, while a link is pending. The code is drawn on the server as an
 * SVG from the connector's stored state; the page reloads itself until the link is made.
 */
export function linkingRoutes(app: DashApp, ctx: DashContext): void {
  app.get('/linking', ctx.guard.page, async (c) => {
    const session = c.get('session');
    const enabled = ctx.deps.config.connectors.whatsapp?.enabled === true;
    // One that does not open (left in the clear by an older build, or sealed under a rotated key) is none: the
    // connector replaces it with the next code WhatsApp offers.
    const stored = QR_STATE.safeParse(enabled ? await ctx.deps.whatsappQr?.().catch(() => undefined) : undefined);
    const svg = stored.success ? await QRCode.toString(stored.data.qr, { type: 'svg', margin: 2, width: 280 }) : undefined;
    return render(
      c,
      <Page title="Linking" path="/linking" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        {svg ? <meta http-equiv="refresh" content={String(REFRESH_SECONDS)} /> : null}
        <h2>WhatsApp</h2>
        {!enabled ? (
          <p>The WhatsApp connector is not enabled (connectors.whatsapp.enabled).</p>
        ) : svg && stored.success ? (
          <figure aria-label="WhatsApp linking code">
            {raw(svg)}
            <figcaption>
              On the phone: WhatsApp → Settings → Linked devices → Link a device, then scan this code (shown {stored.data.at}).
            </figcaption>
          </figure>
        ) : (
          <p>No link is pending: WhatsApp is linked, or the connector has not asked for a code yet. `monkeyclaw doctor` says which.</p>
        )}
      </Page>,
    );
  });
}
