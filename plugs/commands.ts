import { senderIdentities, senderIdentity } from '../core/event.js';
import { halt, NO_OPTIONS, type Context, type NoOptions, type Plug, type PlugServices } from '../core/plug.js';
import { decideAccess, overridesFor } from '../core/access.js';
import { APPROVAL_COMMAND } from '../core/approvals.js';

const HELP = [
  'Commands:',
  '/help: this list',
  '/reset: forget this conversation and start a new one',
  '/status: which assistant answers here',
  '/whoami: who the assistant thinks you are',
  '/approve ID, /reject ID: decide a tool approval (owners)',
  "/fallback: let the fallback model answer when the assistant asked (its usual model was unavailable)",
].join('\n');

type Handler = (ctx: Context, services: PlugServices) => Promise<string>;

/** Only an owner, by stable id, may decide a tool approval; nobody else learns whether the id exists. */
async function decideApproval(ctx: Context, s: PlugServices, decision: 'approved' | 'rejected'): Promise<string> {
  // The owner entry that matched, under whichever of the sender's ids it is written.
  const who = senderIdentities(ctx.event).find((id) => s.config.access.owners.includes(id));
  if (!who) return 'Only an owner can decide approvals.';
  const id = APPROVAL_COMMAND.exec(ctx.event.text.trim())?.[2]?.toUpperCase();
  if (!id || !s.approvals) return 'Usage: /approve ID or /reject ID';
  // Recorded with the decision itself, not with this turn: a turn that fails after it would otherwise leave a
  // decision on no record, and its redelivery find nothing pending to record.
  if (!(await s.approvals.decide(id, decision, who, s.now(), [{ kind: `tool.${decision}`, actor: who, subject: id }]))) return `No pending approval ${id}.`;
  return `${id} ${decision}.`;
}

const COMMANDS: Record<string, Handler> = {
  '/help': async () => HELP,
  '/reset': async (ctx, s) => {
    // A request that brings its own context (the API) has no kept history to forget.
    if (ctx.event.context) return 'Nothing is kept between API requests: each one brings its own messages.';
    return (await s.sessions!.closeSession(ctx.event)) ? 'Done: this conversation starts afresh.' : 'There was nothing to forget yet.';
  },
  '/status': async (ctx) => {
    const a = ctx.assistant;
    return `Assistant: ${a.name}. Backend: ${[a.config.backend].flat().join(' → ')}${a.config.model ? `, model ${a.config.model}` : ''}.`;
  },
  '/approve': (ctx, s) => decideApproval(ctx, s, 'approved'),
  '/reject': (ctx, s) => decideApproval(ctx, s, 'rejected'),
  '/whoami': async (ctx, s) => {
    const id = senderIdentity(ctx.event);
    const decision = decideAccess(s.config.access, ctx.event, await overridesFor(s.access, ctx.event));
    const owner = senderIdentities(ctx.event).some((i) => s.config.access.owners.includes(i));
    return `You are ${id}${ctx.event.sender.name ? ` (${ctx.event.sender.name})` : ''}. Access: ${decision.rule}. Owner: ${owner ? 'yes' : 'no'}.`;
  },
};

/**
 * Chat commands answered without a backend call. Place it after `access` in the inbound pipeline, so only admitted
 * senders reach it; the answer goes back as the plug's notice. Unknown `/words` pass on to the assistant.
 */
export const commandsPlug: Plug<PlugServices, NoOptions> = {
  name: 'commands',
  options: NO_OPTIONS,
  skipsDrafts: true,
  stages: ['inbound'],
  init(_options, services) {
    if (!services.sessions) throw new Error('needs the session store (services.sessions); none was provided');
    return services;
  },
  async call(ctx, services) {
    const word = /^\/([a-z]+)(?:@\S+)?(?:\s+[A-Za-z0-9]{6})?\s*$/i.exec(ctx.event.text.trim())?.[1]?.toLowerCase();
    const handler = word ? COMMANDS[`/${word}`] : undefined;
    if (!handler) return ctx;
    return halt(ctx, 'commands', `command:/${word}`, await handler(ctx, services));
  },
};
