import { effectiveAssistant } from './assistant-settings.js';
import type { AssistantConfig, Config } from './config.js';
import type { SavedAssistant } from './sqlite/settings-store.js';

/** Time for the queue, the plugs and the commit around the backend calls. */
export const TURN_MARGIN_MS = 60_000;
/** Without an assistant's own limits to go by: as long as an HTTP backend's default call. */
export const DEFAULT_DEADLINE_MS = 300_000;

/**
 * How long a surface that waits for its answer (web chat, the API) waits for a turn before giving it up: as long
 * as the assistant's backends may take, one after another (each fallback has a limit of its own), plus a minute.
 * A fixed limit cut agent CLIs off that were still working (their default is 10 minutes), and threw their reply
 * away; the backends' own limits are the ones their owner set for them.
 */
export function turnDeadlineMs(config: Pick<Config, 'backends'>, assistant: Pick<AssistantConfig, 'backend' | 'tools'>): number {
  const chain = Array.isArray(assistant.backend) ? assistant.backend : [assistant.backend];
  // An owner's decision on a tool call stops the backend's clock, not this one: its wait counts once on top.
  const approval = assistant.tools?.approve.length ? assistant.tools.approvalTimeoutMs : 0;
  return chain.reduce((ms, name) => {
    const backend = config.backends[name];
    // Echo (built in, or configured) answers at once and has no limit of its own.
    return ms + (backend && 'timeoutMs' in backend ? backend.timeoutMs : 0);
  }, TURN_MARGIN_MS + approval);
}

/** Each turn is waited for as long as its assistant's backends may take, as they are set now (the dashboard's too). */
export const turnDeadline = (config: Config, settings: { savedAssistants(): Promise<SavedAssistant[]> }) => async (name: string | undefined): Promise<number> => {
  // Unnamed, the one that answers: `default`, else the config's first (README, "Which assistant answers").
  const assistant = await effectiveAssistant(config, settings, name ?? ('default' in config.assistants ? 'default' : Object.keys(config.assistants)[0]!));
  return assistant ? turnDeadlineMs(config, assistant) : DEFAULT_DEADLINE_MS;
};
