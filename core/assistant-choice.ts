import type { Config } from './config.js';
import { conversationIdentity, type ChannelEvent } from './event.js';

/**
 * The assistants that may answer an event, most specific first; the caller takes the first that exists, else the
 * first assistant of all (README, "Which assistant answers"):
 * 1. the config file's `channels["platform:id"].assistant`: the owner named this very conversation;
 * 2. the assistant the caller chose on one of the gateway's own authenticated surfaces (`chat --assistant`, web chat,
 *    the API's `model`): an event's `assistant` from a platform that is not a configured connector. These
 *    conversations are per assistant, so a workspace's choice must not answer in another assistant's name;
 * 3. the assistant of the channel's workspace, set in the dashboard;
 * 4. the connector's `assistant` from the config file (connectors also stamp it on their events);
 * 5. `default`.
 */
export function assistantCandidates(config: Config, event: ChannelEvent, workspaceAssistant?: string | null): string[] {
  const connector = (config.connectors as Record<string, { assistant?: string | undefined } | undefined>)[event.platform];
  return [
    config.channels[conversationIdentity(event)]?.assistant,
    connector ? undefined : event.assistant,
    workspaceAssistant ?? undefined,
    connector ? (event.assistant ?? connector.assistant) : undefined,
    'default',
  ].filter((name): name is string => !!name);
}

/** The workspace the config file puts a conversation in (`channels["platform:id"].workspace`), if it names one. */
export const configuredWorkspace = (config: Pick<Config, 'channels'>, event: ChannelEvent): string | undefined =>
  config.channels[conversationIdentity(event)]?.workspace;
