import type { ConnectorFactory } from '../core/connector.js';

/**
 * The connectors this build can run, each loaded only in its own process (a connector's SDK never enters another's).
 * Keys are the config's `connectors.<name>` and the platform name.
 */
const REGISTRY: Record<string, () => Promise<{ create: ConnectorFactory<never> }>> = {
  slack: () => import('../connectors/slack/index.js'),
  discord: () => import('../connectors/discord/index.js'),
  telegram: () => import('../connectors/telegram/index.js'),
  email: () => import('../connectors/email/index.js'),
  signal: () => import('../connectors/signal/index.js'),
  whatsapp: () => import('../connectors/whatsapp/index.js'),
};

export const AVAILABLE_CONNECTORS: ReadonlySet<string> = new Set(Object.keys(REGISTRY));

export async function loadConnector(name: string): Promise<ConnectorFactory<never> | undefined> {
  const load = REGISTRY[name];
  return load ? (await load()).create : undefined;
}
