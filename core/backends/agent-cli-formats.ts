import type { BackendChunk, BackendMessage } from '../backend.js';

/**
 * What each agentic CLI reads on stdin and writes on stdout.
 *
 * claude-code — `claude -p --output-format stream-json --verbose`: stdin is the prompt as text (the conversation
 *   rendered below); stdout lines `{"type":"assistant","message":{"content":[{"type":"text","text":…},
 *   {"type":"tool_use","id","name","input"}]}}`, then `{"type":"user","message":{"content":[{"type":"tool_result",
 *   "tool_use_id"}]}}` once the tool ran or was refused, optionally `{"type":"stream_event","event":
 *   {content_block_delta…}}` (with --include-partial-messages), and a final `{"type":"result","is_error","usage",
 *   "total_cost_usd"}`. Tools are asked about before they run by a PreToolUse hook (claude-hooks.ts); a tool the
 *   output shows that no hook asked about is reported here, after the fact, at its result.
 * codex — `codex exec --json -`: stdin is the prompt as text; stdout lines `thread.started`, `turn.started`,
 *   `item.started|item.completed` with `item.type` agent_message | command_execution | file_change | mcp_tool_call |
 *   web_search | reasoning, then `turn.completed` (usage) or `turn.failed` / `error`.
 * jsonl — MonkeyClaw's own protocol, for any command:
 *   stdin, first line:  {"messages":[{"role":"system|user|assistant","content":"…"}],"model":"…"?}
 *   stdout, one JSON object a line:
 *     {"type":"delta","text":"…"}                         a piece of the reply
 *     {"type":"tool_request","id":"…","tool":"…","input":{…}}   then WAIT for the answer on stdin:
 *       stdin ← {"type":"tool_result","id":"…","allow":true|false,"reason":"…"?}
 *     {"type":"usage","inputTokens":N,"outputTokens":N,"costUsd":N?}
 *     {"type":"error","message":"…","retryable":true|false}   retryable (the default) lets a fallback answer
 *     {"type":"done"}                                    the reply is complete; stdin is closed, the process should exit
 *   Lines that are not JSON objects, and unknown types, are ignored. Ending without `done` is a failed call.
 */
export type Flavor = 'claude-code' | 'codex' | 'jsonl';

export type CliEvent = BackendChunk | { type: 'done' } | { type: 'error'; message: string; retryable: boolean };

/** The first thing written to the process's stdin. The text flavors get the conversation as one prompt. */
export function renderInput(flavor: Flavor, messages: BackendMessage[], model: string | undefined): string {
  if (flavor === 'jsonl') return `${JSON.stringify({ messages, ...(model ? { model } : {}) })}\n`;
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  const turns = messages.filter((m) => m.role !== 'system');
  const latest = turns.pop();
  const parts: string[] = [];
  if (system.length) parts.push(`[Instructions]\n${system.join('\n\n')}`);
  if (turns.length) parts.push(`[Conversation so far]\n${turns.map((t) => `${t.role === 'user' ? 'User' : 'Assistant'}: ${t.content}`).join('\n\n')}`);
  parts.push(parts.length ? `[New message]\n${latest?.content ?? ''}` : (latest?.content ?? ''));
  return `${parts.join('\n\n')}\n`;
}

const str = (v: unknown, max = 256): string | undefined => (typeof v === 'string' && v.length <= max ? v : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);

/** A stateful line parser per call: one JSON object in, the bridge's events out. */
export function lineParser(flavor: Flavor): (line: string) => CliEvent[] {
  const parse = flavor === 'claude-code' ? claudeCode() : flavor === 'codex' ? codex() : jsonl();
  return (line) => {
    if (!line.trim()) return [];
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return []; // banners and warnings on stdout are not part of the protocol
    }
    const o = obj(value);
    return o ? parse(o) : [];
  };
}

function claudeCode(): (o: Obj) => CliEvent[] {
  let partial = false; // --include-partial-messages: text arrives as stream events, not again in the message
  let wrote = false;
  /** Tool uses announced, by id, reported when their result (or the end of the run) shows they were dealt with. */
  const announced = new Map<string, CliEvent & { type: 'tool_request' }>();
  const report = (id: string): CliEvent[] => {
    const request = announced.get(id);
    announced.delete(id);
    return request ? [request] : [];
  };
  return (o) => {
    const out: CliEvent[] = [];
    if (o.type === 'stream_event') {
      const delta = obj(obj(o.event)?.delta);
      if (obj(o.event)?.type === 'content_block_delta' && delta?.type === 'text_delta' && typeof delta.text === 'string') {
        partial = true;
        out.push({ type: 'delta', text: delta.text });
      }
    } else if (o.type === 'assistant') {
      const content = obj(o.message)?.content;
      let first = true;
      for (const block of Array.isArray(content) ? content.map(obj) : []) {
        if (block?.type === 'text' && typeof block.text === 'string' && block.text && !partial) {
          out.push({ type: 'delta', text: (wrote && first ? '\n\n' : '') + block.text });
          wrote = true;
          first = false;
        } else if (block?.type === 'tool_use') {
          const id = str(block.id) ?? '';
          announced.set(id, { type: 'tool_request', id, tool: str(block.name) ?? 'unknown', input: block.input, started: true });
        }
      }
    } else if (o.type === 'user') {
      const content = obj(o.message)?.content;
      for (const block of Array.isArray(content) ? content.map(obj) : []) {
        if (block?.type === 'tool_result') out.push(...report(str(block.tool_use_id) ?? ''));
      }
    } else if (o.type === 'result') {
      for (const id of [...announced.keys()]) out.push(...report(id));
      const u = obj(o.usage);
      const cost = typeof o.total_cost_usd === 'number' ? { costUsd: o.total_cost_usd } : {};
      out.push({
        type: 'usage',
        inputTokens: num(u?.input_tokens) + num(u?.cache_creation_input_tokens) + num(u?.cache_read_input_tokens),
        outputTokens: num(u?.output_tokens),
        ...cost,
      });
      out.push(o.is_error === true ? { type: 'error', message: `claude reported ${str(o.subtype, 64) ?? 'an error'}`, retryable: true } : { type: 'done' });
    }
    return out;
  };
}

const CODEX_TOOLS: Record<string, (item: Obj) => [string, unknown]> = {
  command_execution: (i) => ['shell', { command: i.command }],
  file_change: (i) => ['apply_patch', { changes: i.changes }],
  mcp_tool_call: (i) => [`mcp:${str(i.server, 100) ?? '?'}.${str(i.tool, 100) ?? '?'}`, { arguments: i.arguments }],
  web_search: (i) => ['web_search', { query: i.query }],
};

function codex(): (o: Obj) => CliEvent[] {
  const seen = new Set<string>();
  let wrote = false;
  return (o) => {
    const item = obj(o.item);
    if ((o.type === 'item.started' || o.type === 'item.completed') && item) {
      const id = str(item.id) ?? '';
      const tool = CODEX_TOOLS[String(item.type)];
      if (tool && !seen.has(id)) {
        seen.add(id);
        const [name, input] = tool(item);
        return [{ type: 'tool_request', id, tool: name, input, started: true }];
      }
      if (o.type === 'item.completed' && item.type === 'agent_message' && typeof item.text === 'string') {
        const text = (wrote ? '\n\n' : '') + item.text;
        wrote = true;
        return [{ type: 'delta', text }];
      }
      return [];
    }
    if (o.type === 'turn.completed') {
      const u = obj(o.usage);
      return [{ type: 'usage', inputTokens: num(u?.input_tokens), outputTokens: num(u?.output_tokens) }, { type: 'done' }];
    }
    if (o.type === 'turn.failed' || o.type === 'error') return [{ type: 'error', message: 'codex reported an error', retryable: true }];
    return [];
  };
}

function jsonl(): (o: Obj) => CliEvent[] {
  return (o) => {
    switch (o.type) {
      case 'delta':
        return typeof o.text === 'string' && o.text ? [{ type: 'delta', text: o.text }] : [];
      case 'tool_request':
        return [{ type: 'tool_request', id: str(o.id) ?? '', tool: str(o.tool) ?? 'unknown', input: o.input }];
      case 'usage':
        return [{ type: 'usage', inputTokens: num(o.inputTokens), outputTokens: num(o.outputTokens), ...(typeof o.costUsd === 'number' ? { costUsd: num(o.costUsd) } : {}) }];
      case 'error':
        return [{ type: 'error', message: str(o.message, 500) ?? 'the backend reported an error', retryable: o.retryable !== false }];
      case 'done':
        return [{ type: 'done' }];
      default:
        return [];
    }
  };
}
