import type { AssistantConfig, Config } from './config.js';

/** Time for the queue, the plugs and the commit around the backend calls. */
export const TURN_MARGIN_MS = 60_000;

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
