import { processRedactor } from '../../core/redactor.js';
import { failed, out, withStore } from './with-store.js';
import { APPROVAL_ID } from '../../core/approvals.js';
import type { GlobalOptions } from '../runtime.js';
import { terminalLine } from '../terminal-text.js';

/** Tool calls waiting for an owner: `ID assistant tool expires-at requester summary`. */
export const approvalsList = (options: GlobalOptions) =>
  withStore(options, async (store) => {
    const pending = await store.approvalStore().pending(Date.now());
    // On stderr: stdout lists one line per call, and an empty list is no lines (as pair, apikey and dlq).
    if (pending.length === 0) process.stderr.write('no tool calls waiting for an owner\n');
    for (const a of pending) {
      // Masked when it was asked; masked again for what an older gateway stored (token shapes only: see redactTokens).
      // The tool's name and summary are the backend's words: one line, control characters shown.
      out(terminalLine(`${a.id} ${a.assistant} ${a.tool} ${new Date(a.expiresAt).toISOString()} ${a.requester} ${processRedactor.redactTokens(a.summary)}`.trimEnd()));
    }
    return 0;
  });

export const approvalsDecide = (id: string, decision: 'approved' | 'rejected', options: GlobalOptions) =>
  withStore(options, async (store) => {
    const normalized = id.trim().toUpperCase();
    const audit = [{ kind: `tool.${decision}`, actor: 'cli', subject: normalized }];
    const ok = APPROVAL_ID.test(normalized) && (await store.approvalStore().decide(normalized, decision, 'cli', Date.now(), audit));
    if (!ok) {
      failed(`no pending approval ${id}`);
      return 1;
    }
    out(`${normalized} ${decision}`);
    return 0;
  });
