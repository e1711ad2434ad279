import { isAbsolute, relative, resolve, sep } from 'node:path';
import { randomInt } from 'node:crypto';
import type { AssistantConfig } from './config.js';

export type ToolRule = 'allow' | 'deny' | 'approve';

export interface Approval {
  id: string;
  assistant: string;
  tool: string;
  summary: string;
  requester: string;
  eventId: string;
  status: 'pending' | 'approved' | 'rejected' | 'expired';
  createdAt: number;
  expiresAt: number;
}

export interface ApprovalStore {
  create(a: Omit<Approval, 'status'>): Promise<void>;
  get(id: string): Promise<Approval | undefined>;
  pending(now: number): Promise<Approval[]>;
  /** Decides a pending, unexpired request; false when it is unknown, expired or already decided. */
  decide(id: string, decision: 'approved' | 'rejected', by: string, now: number): Promise<boolean>;
  expire(id: string, now: number): Promise<void>;
}

/** What a tool call is about, for matching and for the owner: a shell command if it has one, else its name. */
export function toolSummary(tool: string, input: unknown): string {
  const command = input && typeof input === 'object' && 'command' in input ? (input as { command: unknown }).command : undefined;
  return typeof command === 'string' ? command.slice(0, 500) : '';
}

/** The input fields file tools name paths in (Claude Code's Read/Write/Edit/Glob/Grep, Codex's, jsonl agents'). */
const PATH_FIELDS = ['file_path', 'path', 'notebook_path', 'filePath', 'directory', 'cwd'];

/**
 * The first path field of a tool's input that resolves outside `workdir` (relative paths from it, as the agent runs
 * there), or undefined. A shell command's paths cannot be read this way: Bash rules must stay narrow.
 */
export function pathOutside(input: unknown, workdir: string): string | undefined {
  if (!input || typeof input !== 'object') return undefined;
  for (const field of PATH_FIELDS) {
    const value = (input as Record<string, unknown>)[field];
    if (typeof value !== 'string') continue;
    const rel = relative(workdir, resolve(workdir, value.replace(/^~(?=$|\/)/, workdir)));
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return field;
  }
  return undefined;
}

function matches(pattern: string, tool: string, command: string): boolean {
  const [toolPart, commandPart] = pattern.includes(':') ? [pattern.slice(0, pattern.indexOf(':')), pattern.slice(pattern.indexOf(':') + 1)] : [pattern, undefined];
  const glob = (g: string) => new RegExp(`^${g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 's');
  if (!glob(toolPart!).test(tool)) return false;
  return commandPart === undefined || glob(commandPart).test(command);
}

/** Deny wins over approve, approve over allow; what no rule names is denied. */
export function toolRule(tools: AssistantConfig['tools'], tool: string, command: string): ToolRule {
  if (!tools) return 'deny';
  if (tools.deny.some((p) => matches(p, tool, command))) return 'deny';
  if (tools.approve.some((p) => matches(p, tool, command))) return 'approve';
  if (tools.allow.some((p) => matches(p, tool, command))) return 'allow';
  return 'deny';
}

const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const APPROVAL_ID = /^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$/;
/** `/approve ID` or `/reject ID` in chat (`/approve@bot ID` in a Telegram group); group 2 is the id. */
export const APPROVAL_COMMAND = /^\/(approve|reject)(?:@\S+)?\s+([A-Za-z0-9]{6})\s*$/i;
export const newApprovalId = (): string => Array.from({ length: 6 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
