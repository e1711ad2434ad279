import { create, type DiscordConfig } from '../../../connectors/discord/index.js';
import { startFakeDiscord, USERS, type FakeDiscord } from '../../fakes/discord/index.js';
import { startConnectorHarness, type HarnessOptions } from '../../helpers/connector-harness.js';

export const DM = '319674150115610528';
export const GENERAL = '41771983423143937';
export const THREAD = '1105555555555555555';
export const QUIET = '41771983423149999';

export type Harness = Awaited<ReturnType<typeof startConnectorHarness<DiscordConfig>>>;

export interface Rig {
  fake: FakeDiscord;
  h: Harness;
  /** Audit entries of one kind so far, data parsed. */
  audits(kind: string): Promise<Array<{ actor: string; subject: string | null; data: Record<string, unknown> }>>;
  stop(): Promise<void>;
}

/**
 * A fake Discord with a DM, an allowlisted guild channel with a thread, and a guild channel nobody allowlisted,
 * around the whole gateway (embedded queue, session worker, echo backend) and the real Discord connector.
 */
export async function rig(
  options: { connector?: Partial<DiscordConfig>; config?: Record<string, unknown>; wrapPublish?: HarnessOptions<DiscordConfig>['wrapPublish'] } = {},
): Promise<Rig> {
  const fake = await startFakeDiscord();
  fake.addDm(DM, USERS.alice);
  fake.addTextChannel(GENERAL);
  fake.addThread(THREAD, GENERAL);
  fake.addTextChannel(QUIET);
  const h = await startConnectorHarness<DiscordConfig>({
    name: 'discord',
    create,
    secrets: { 'env:DISCORD_TOKEN': fake.token },
    config: {
      access: { dm: 'open', groups: 'allowlist', allow: [`discord:${GENERAL}`, `discord:${THREAD}`] },
      connectors: { discord: { enabled: true, token: 'env:DISCORD_TOKEN', apiRoot: fake.apiRoot, ...options.connector } },
      ...options.config,
    },
    ...(options.wrapPublish ? { wrapPublish: options.wrapPublish } : {}),
  });
  return {
    fake,
    h,
    async audits(kind) {
      return (await h.store.auditTail(10_000))
        .filter((e) => e.kind === kind)
        .map((e) => ({ actor: e.actor, subject: e.subject, data: JSON.parse(e.data) as Record<string, unknown> }));
    },
    async stop() {
      await h.stop();
      await fake.close();
    },
  };
}
