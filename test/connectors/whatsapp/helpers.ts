import { readFileSync } from 'node:fs';
import { proto } from 'baileys';
import { createWhatsapp, type WhatsappConfig, type WhatsappOptions } from '../../../connectors/whatsapp/index.js';
import { startConnectorHarness, type HarnessOptions } from '../../helpers/connector-harness.js';
import { FakeWaSocket } from '../../fakes/whatsapp/socket.js';

export const ALICE = '15551234567@s.whatsapp.net';
export const ALICE_LID = '123456789012345@lid';
export const BOB = '15557654321@s.whatsapp.net';
export const GROUP = '120363025246125888@g.us';

export type Cleanup = Array<() => Promise<void> | void>;

type Upsert = { type: 'notify' | 'append'; messages: Array<Record<string, any>> };

/**
 * A recorded `messages.upsert` from test/fixtures/whatsapp. Its timestamp is moved to now (+ offsetS): the connector
 * answers history sync only after its watermark, which starts at the first start's clock.
 */
export function fixture(name: string, options: { offsetS?: number; id?: string; type?: 'notify' | 'append' } = {}): Upsert {
  const u = JSON.parse(readFileSync(new URL(`../../fixtures/whatsapp/${name}.json`, import.meta.url), 'utf8')) as Upsert;
  for (const m of u.messages) {
    m.messageTimestamp = Math.floor(Date.now() / 1000) + (options.offsetS ?? 0);
    if (options.id) m.key.id = options.id;
  }
  if (options.type) u.type = options.type;
  return u;
}

/**
 * The fixture as baileys really emits a live message: a plain envelope and key, the content a protobufjs
 * `proto.Message` decoded from the wire (prototype null defaults, Longs, Uint8Arrays).
 */
export function live(u: Upsert): Upsert {
  return {
    ...u,
    messages: u.messages.map((m) => ({ ...m, message: proto.Message.decode(proto.Message.encode(proto.Message.fromObject(m.message)).finish()) })),
  };
}

/** A whole `proto.WebMessageInfo` as history sync and retries emit it (the key a MessageKey, the timestamp a Long). */
export function decoded(u: Upsert): Upsert {
  return { ...u, messages: u.messages.map((m) => proto.WebMessageInfo.decode(proto.WebMessageInfo.encode(proto.WebMessageInfo.fromObject(m)).finish()) as never) };
}

/** The gateway in-process around the real WhatsApp connector, its baileys socket replaced by fakes the test drives. */
export async function whatsappGateway(
  cleanup: Cleanup,
  options: WhatsappOptions = {},
  config: Partial<WhatsappConfig> = {},
  wrapPublish?: HarnessOptions<WhatsappConfig>['wrapPublish'],
) {
  const sockets: FakeWaSocket[] = [];
  const qrs: string[] = [];
  const h = await startConnectorHarness<WhatsappConfig>({
    name: 'whatsapp',
    config: {
      access: { dm: 'allowlist', groups: 'allowlist', allow: [`whatsapp:${ALICE}`, `whatsapp:${ALICE_LID}`, `whatsapp:${GROUP}`] },
      connectors: { whatsapp: { enabled: true, ...config } },
    },
    create: (deps) =>
      createWhatsapp(deps, {
        spacingMs: 0,
        typingRefreshMs: 200,
        qrOut: (t) => qrs.push(t),
        ...options,
        socketFactory: (auth) => {
          const s = new FakeWaSocket(auth);
          sockets.push(s);
          return s;
        },
      }),
    ...(wrapPublish ? { wrapPublish } : {}),
  });
  cleanup.push(() => h.stop());
  const current = () => sockets.at(-1)!;
  current().open();
  return { h, sockets, current, qrs };
}

export async function audited(h: Awaited<ReturnType<typeof whatsappGateway>>['h'], kind: string) {
  return (await h.store.auditTail(10_000)).filter((e) => e.kind === kind);
}
