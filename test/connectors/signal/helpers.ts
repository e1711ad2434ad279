import { createSignalConnector, type SignalConfig, type SignalOptions } from '../../../connectors/signal/index.js';
import { startConnectorHarness, type HarnessOptions } from '../../helpers/connector-harness.js';
import { ACCOUNT, FakeSignalDaemon } from '../../fakes/signal/daemon.js';
import { ALICE_UUID, BOB_UUID, GROUP_ID } from '../../fakes/signal/fixtures.js';

export type Cleanup = Array<() => Promise<void> | void>;

/** The gateway in-process around the real Signal connector, pointed at a fake daemon over TCP or HTTP. */
export async function signalGateway(
  cleanup: Cleanup,
  transport: 'tcp' | 'http',
  options: SignalOptions = {},
  daemonOptions: FakeSignalDaemon['options'] = {},
  wrapPublish?: HarnessOptions<SignalConfig>['wrapPublish'],
  wrapAccess?: HarnessOptions<SignalConfig>['wrapAccess'],
) {
  const daemon = await FakeSignalDaemon.start(daemonOptions);
  cleanup.push(() => daemon.close());
  const h = await startConnectorHarness<SignalConfig>({
    name: 'signal',
    config: {
      access: { dm: 'allowlist', groups: 'allowlist', allow: [`signal:${ALICE_UUID}`, `signal:${BOB_UUID}`, `signal:${GROUP_ID}`] },
      connectors: { signal: { enabled: true, rpc: transport === 'tcp' ? daemon.tcpUrl : daemon.httpUrl, account: ACCOUNT } },
    },
    create: (deps) => createSignalConnector(deps, { typingRefreshMs: 200, ...options }),
    ...(wrapPublish ? { wrapPublish } : {}),
    ...(wrapAccess ? { wrapAccess } : {}),
  });
  cleanup.push(() => h.stop());
  return { daemon, h };
}

/** Audit entries of one kind, oldest first. */
export async function audited(h: Awaited<ReturnType<typeof signalGateway>>['h'], kind: string) {
  return (await h.store.auditTail(10_000)).filter((e) => e.kind === kind);
}

/** A publish that notes each event's text once it is stored. */
export const notingStored =
  (stored: string[]): NonNullable<HarnessOptions<SignalConfig>['wrapPublish']> =>
  (publish) =>
  async (events) => {
    const ok = await publish(events);
    stored.push(...events.map((e) => (e as { text: string }).text));
    return ok;
  };
