import { senderIdentity } from '../core/event.js';
import { halt, type Context, type Plug, type PlugServices } from '../core/plug.js';
import { decideAccess, overridesFor } from './access.js';

const HELP = [
  'Commands:',
  '/help: this list',
  '/reset: forget this conversation and start a new one',
  '/status: which assistant answers here',
  '/whoami: who the assistant thinks you are',
].join('\n');

type Handler = (ctx: Context, services: PlugServices) => Promise<string>;

const COMMANDS: Record<string, Handler> = {
  '/help': async () => HELP,
  '/reset': async (ctx, s) => ((await s.sessions!.closeSession(ctx.event)) ? 'Done: this conversation starts afresh.' : 'There was nothing to forget yet.'),
  '/status': async (ctx) => {
    const a = ctx.assistant;
    return `Assistant: ${a.name}. Backend: ${[a.config.backend].flat().join(' → ')}${a.config.model ? `, model ${a.config.model}` : ''}.`;
  },
  '/whoami': async (ctx, s) => {
    const id = senderIdentity(ctx.event);
    const decision = decideAccess(s.config.access, ctx.event, await overridesFor(s.access, ctx.event));
    const owner = s.config.access.owners.includes(id);
    return `You are ${id}${ctx.event.sender.name ? ` (${ctx.event.sender.name})` : ''}. Access: ${decision.rule}. Owner: ${owner ? 'yes' : 'no'}.`;
  },
};

/**
 * Chat commands answered without a backend call. Place it after `access` in the inbound pipeline, so only admitted
 * senders reach it; the answer goes back as the plug's notice. Unknown `/words` pass on to the assistant.
 */
export const commandsPlug: Plug<PlugServices> = {
  name: 'commands',
  init(_options, services) {
    if (!services.sessions) throw new Error('needs the session store (services.sessions); none was provided');
    return services;
  },
  async call(ctx, services) {
    const word = /^\/([a-z]+)(?:@\S+)?\s*$/i.exec(ctx.event.text.trim())?.[1]?.toLowerCase();
    const handler = word ? COMMANDS[`/${word}`] : undefined;
    if (!handler) return ctx;
    return halt(ctx, 'commands', `command:/${word}`, await handler(ctx, services));
  },
};
