import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_SHOWN, newApprovalId, pathOutside, shownCommand, toolCommand, toolRule, type ApprovalStore } from './approvals.js';
import type { AuditInput } from './audit.js';
import type { GovernedToolRequest, ToolDecision } from './backend.js';
import { senderIdentity, type ChannelEvent } from './event.js';
import type { RuntimeAssistant } from './talk.js';

export interface GovernorDeps {
  approvals: ApprovalStore;
  assistantFor(event: ChannelEvent): RuntimeAssistant | Promise<RuntimeAssistant>;
  audit(entries: AuditInput[]): Promise<void>;
  /** Sends `text` to every owner now, while the turn waits (not when it ends). */
  notifyOwners(event: ChannelEvent, text: string): Promise<void>;
  /** Tells the one who asked, now, in their conversation, that the turn waits for an owner. */
  tellRequester?(event: ChannelEvent, text: string): Promise<void>;
  now(): number;
  pollMs?: number;
  /**
   * Masks credentials in the command put to owners (a token in a `git push` URL): it is sent to their chats and
   * kept for `approvals list`, and neither may show one. Token shapes only (Redactor.redactTokens): the owner must
   * still read everything the command does.
   */
  redact?(text: string): string;
}

/**
 * Decides an agentic backend's tool requests from the assistant's `tools` rules: deny wins, `approve` waits for an
 * owner (chat `/approve ID`, the CLI or the dashboard) until the approval times out, which rejects it; whatever no
 * rule names is denied. Nothing runs without the rule or the owner saying so.
 */
export function toolGovernor(deps: GovernorDeps) {
  return async (request: GovernedToolRequest, event: ChannelEvent): Promise<ToolDecision> => {
    // A file tool pointed outside the session's directory (`../1/notes.txt`) would read another DM's files.
    const outside = request.workdir ? pathOutside(request.tool, request.input, request.workdir) : undefined;
    if (outside) return { allow: false, reason: `${outside} reaches outside the session directory` };
    const assistant = await deps.assistantFor(event);
    const command = toolCommand(request.input);
    const rule = toolRule(assistant.config.tools, request.tool, command);
    if (rule === 'allow') return { allow: true };
    if (rule === 'deny') return { allow: false, reason: 'this tool is not allowed here' };
    // An owner's yes could only come after the fact.
    if (request.started) return { allow: false, reason: 'the tool started before it could be approved' };
    // An owner approves what they read: a command longer than they are shown could hide what it runs after it.
    const shown = shownCommand(command);
    if (shown.length > MAX_SHOWN) return { allow: false, reason: 'the command is too long to put to an owner' };
    const summary = deps.redact ? deps.redact(shown) : shown;

    const now = deps.now();
    const stale = await deps.approvals.supersede(event.id, now);
    if (stale.length > 0) await deps.audit(stale.map((id) => ({ kind: 'tool.approval_expired', actor: 'governor', subject: id, data: { why: 'asked again' } })));
    const id = newApprovalId();
    const timeoutMs = assistant.config.tools!.approvalTimeoutMs;
    await deps.approvals.create({ id, assistant: assistant.name, tool: request.tool, summary, requester: senderIdentity(event), eventId: event.id, createdAt: now, expiresAt: now + timeoutMs });
    await deps.audit([{ kind: 'tool.approval_requested', actor: `assistant:${assistant.name}`, subject: id, data: { tool: request.tool, requester: senderIdentity(event) } }]);
    const what = summary ? `${request.tool}: ${summary}` : request.tool;
    await deps.notifyOwners(event, `Approval needed (${id}): assistant ${assistant.name} wants to use ${what}\nReply /approve ${id} or /reject ${id}.`);
    await deps.tellRequester?.(event, `Waiting for an owner to approve ${request.tool.slice(0, 60)} (${id}); the answer follows once they decide.`);

    for (;;) {
      const current = await deps.approvals.get(id);
      if (current?.status === 'approved') return { allow: true };
      if (current?.status === 'rejected') return { allow: false, reason: 'an owner rejected it' };
      if (deps.now() >= now + timeoutMs) {
        await deps.approvals.expire(id, deps.now());
        await deps.audit([{ kind: 'tool.approval_expired', actor: 'governor', subject: id }]);
        return { allow: false, reason: 'no owner approved it in time' };
      }
      await sleep(deps.pollMs ?? 500);
    }
  };
}
