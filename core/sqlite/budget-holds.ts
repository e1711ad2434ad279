import type { Statement } from 'better-sqlite3';
import type { BudgetHold, BudgetView, UsageTotals } from '../store.js';

const TOTALS = 'COALESCE(SUM(input_tokens + output_tokens), 0) AS tokens, COALESCE(SUM(cost_usd), 0) AS costUsd';

/**
 * The budget's check and hold in one step; call it inside a write transaction (the store's group commit), so no
 * other turn, in this process or another, checks between this one's check and its hold. A turn admitted holds the
 * workspace's average turn this month until its commit deletes the hold (the store's turn commit, or a turn given
 * up) or the hold expires.
 */
export function holdBudget(sql: (text: string) => Statement, hold: BudgetHold, admit: (view: BudgetView) => string | undefined): string | undefined {
  const since = (day: string) => sql(`SELECT ${TOTALS} FROM usage_daily WHERE workspace_id = ? AND day >= ?`).get(hold.workspaceId, day) as UsageTotals;
  const average = sql('SELECT SUM(turn_tokens) AS tokens, SUM(turn_cost_usd) AS costUsd, SUM(turns) AS turns FROM usage_daily WHERE workspace_id = ? AND day >= ?')
    .get(hold.workspaceId, hold.month) as { tokens: number | null; costUsd: number | null; turns: number | null };
  const perTurn = average.turns ? { tokens: average.tokens! / average.turns, costUsd: average.costUsd! / average.turns } : { tokens: 0, costUsd: 0 };
  const now = new Date().toISOString();
  // Other turns' holds only: a redelivered event, or a budget in two stages, must not count itself.
  const held = sql('SELECT COALESCE(SUM(tokens), 0) AS tokens, COALESCE(SUM(cost_usd), 0) AS costUsd FROM budget_holds WHERE workspace_id = ? AND expires_at > ? AND event_id != ?')
    .get(hold.workspaceId, now, hold.eventId) as UsageTotals;
  const refusal = admit({ day: since(hold.day), month: since(hold.month), held, perTurn });
  if (refusal === undefined) {
    sql('INSERT OR REPLACE INTO budget_holds (event_id, workspace_id, tokens, cost_usd, expires_at) VALUES (?, ?, ?, ?, ?)')
      .run(hold.eventId, hold.workspaceId, perTurn.tokens, perTurn.costUsd, hold.expiresAt);
  } else {
    // A redelivered turn refused now lets go of the hold its first attempt left: the other turns redelivered with it
    // must not be refused for it.
    sql('DELETE FROM budget_holds WHERE event_id = ?').run(hold.eventId);
  }
  sql('DELETE FROM budget_holds WHERE expires_at <= ?').run(now);
  return refusal;
}
