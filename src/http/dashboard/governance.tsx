import { outsideAllowlist, PAIRING_CODE, revocable, type PairingRequest } from '../../../core/access.js';
import { APPROVAL_ID, type Approval } from '../../../core/approvals.js';
import type { AuditInput } from '../../../core/audit.js';
import { identityProblem } from '../../../core/identity.js';
import { WEB_ACTOR, type DashApp, type DashContext } from './deps.js';
import { Csrf, Page, render } from './layout.js';
import { formBody } from '../form.js';

interface Entry {
  identity: string;
  action: string;
  source: string;
  updatedAt?: string;
}

function Pairings({ pending, csrf }: { pending: PairingRequest[]; csrf: string }) {
  if (pending.length === 0) return <p>No pending pairing requests.</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>code</th>
            <th>sender</th>
            <th>name</th>
            <th>expires</th>
            <th>decision</th>
          </tr>
        </thead>
        <tbody>
          {pending.map((p) => (
            <tr>
              <td class="mono">{p.code}</td>
              <td class="mono">{p.identity}</td>
              <td>{p.name}</td>
              <td class="muted">{new Date(p.expiresAt).toISOString()}</td>
              <td>
                <form method="post" action="/governance/pairing" class="inline">
                  <Csrf token={csrf} />
                  <input type="hidden" name="code" value={p.code} />
                  <button type="submit" name="decision" value="approved" aria-label={`Approve ${p.code} from ${p.identity}`}>
                    Approve
                  </button>{' '}
                  <button type="submit" name="decision" value="denied" class="secondary" aria-label={`Deny ${p.code} from ${p.identity}`}>
                    Deny
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** How long ago, in the largest whole unit. */
function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

function ToolApprovals({ pending, now, redact, csrf }: { pending: Approval[]; now: number; redact: (text: string) => string; csrf: string }) {
  if (pending.length === 0) return <p>No tool calls are waiting for a decision.</p>;
  // The buttons come right after what they decide, so a phone shows them without scrolling sideways.
  return (
    <div class="table-wrap">
      <table class="approvals">
        <thead>
          <tr>
            <th>id</th>
            <th>tool</th>
            <th>decision</th>
            <th>assistant</th>
            <th>requester</th>
            <th>age</th>
            <th>expires</th>
          </tr>
        </thead>
        <tbody>
          {pending.map((a) => (
            <tr>
              <td class="mono">{a.id}</td>
              <td class="tool">
                <span class="mono">{a.tool}</span>
                {a.summary ? <code class="summary">{redact(a.summary)}</code> : null}
              </td>
              <td class="decision">
                <form method="post" action="/governance/approval" class="inline">
                  <Csrf token={csrf} />
                  <input type="hidden" name="id" value={a.id} />
                  <button type="submit" name="decision" value="approved" aria-label={`Approve ${a.id} (${a.tool})`}>
                    Approve
                  </button>{' '}
                  <button type="submit" name="decision" value="rejected" class="secondary" aria-label={`Reject ${a.id} (${a.tool})`}>
                    Reject
                  </button>
                </form>
              </td>
              <td>{a.assistant}</td>
              <td class="mono">{a.requester}</td>
              <td class="muted">{age(now - a.createdAt)}</td>
              <td class="muted">{new Date(a.expiresAt).toISOString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AccessForm({ identity, action, label, csrf }: { identity: string; action: 'allow' | 'revoke'; label: string; csrf: string }) {
  return (
    <form method="post" action="/governance/access" class="inline">
      <Csrf token={csrf} />
      <input type="hidden" name="identity" value={identity} />
      <button type="submit" name="action" value={action} class={action === 'revoke' ? 'secondary' : undefined} aria-label={`${label} ${identity}`}>
        {label}
      </button>
    </form>
  );
}

function Allowlist({ entries, csrf }: { entries: Entry[]; csrf: string }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>identity</th>
            <th>rule</th>
            <th>source</th>
            <th>change</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr>
              <td class="mono">{e.identity}</td>
              <td>{e.action}</td>
              <td>{e.source}</td>
              <td>
                {e.action === 'allow' ? <AccessForm identity={e.identity} action="revoke" label="Revoke" csrf={csrf} /> : null}
                {e.action === 'revoke' || (e.action === 'deny' && e.source !== 'config (always wins)') ? (
                  <AccessForm identity={e.identity} action="allow" label="Allow" csrf={csrf} />
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * Pending pairing requests with approve/deny, tool calls waiting for an owner with approve/reject, and the
 * allowlist (config plus run-time changes) with revoke/allow. Every decision is audited as `web:admin`.
 */
export function governanceRoutes(app: DashApp, ctx: DashContext): void {
  const { deps } = ctx;
  const access = () => deps.store.accessStore();
  const approvals = () => deps.store.approvalStore();
  const now = deps.now ?? Date.now;
  /** The entry a decision commits with. */
  const entry = (kind: string, subject: string, data?: Record<string, unknown>): AuditInput[] => [{ kind, actor: WEB_ACTOR, subject, ...(data ? { data } : {}) }];

  /** As `monkeyclaw access list` shows it: each entry with where it comes from. */
  async function entries(): Promise<Entry[]> {
    const { allow, deny, owners } = deps.config.access;
    const overrides = await access().allOverrides();
    const overridden = new Set(overrides.map((o) => o.identity));
    return [
      ...allow.filter((id) => !overridden.has(id)).map((identity) => ({ identity, action: 'allow', source: 'config' })),
      ...overrides,
      ...deny.map((identity) => ({ identity, action: 'deny', source: 'config (always wins)' })),
      ...owners.map((identity) => ({ identity, action: 'owner', source: 'config' })),
    ];
  }

  app.get('/governance', ctx.guard.page, async (c) => {
    const session = c.get('session');
    const at = now();
    const [pending, tools, list] = await Promise.all([access().pendingPairings(at), approvals().pending(at), entries()]);
    return render(
      c,
      <Page title="Governance" path="/governance" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <h2>Pending pairing requests</h2>
        <Pairings pending={pending} csrf={session.csrfToken} />
        <h2>Pending tool approvals</h2>
        <ToolApprovals pending={tools} now={at} redact={ctx.redactCommand} csrf={session.csrfToken} />
        <h2>Allowlist</h2>
        <p class="muted">Access policy for direct messages: {deps.config.access.dm}; groups: {deps.config.access.groups}.</p>
        <Allowlist entries={list} csrf={session.csrfToken} />
        <form method="post" action="/governance/access" class="row">
          <Csrf token={session.csrfToken} />
          <input type="hidden" name="action" value="allow" />
          <label>
            Identity to allow (platform:id)
            <input name="identity" required placeholder="telegram:123456789" pattern="[a-z][a-z0-9\-]{0,31}:\S{1,256}" />
          </label>
          <button type="submit">Allow</button>
        </form>
      </Page>,
    );
  });

  app.post('/governance/pairing', ctx.guard.action(), async (c) => {
    const session = c.get('session');
    const body = await formBody(c);
    const code = typeof body.code === 'string' ? body.code.trim().toUpperCase() : '';
    const decision = body.decision === 'approved' || body.decision === 'denied' ? body.decision : undefined;
    if (!decision) return c.text('Bad request.', 400);
    const result = PAIRING_CODE.test(code)
      ? await access().decidePairing(code, decision, now(), (identity) => entry(`pairing.${decision}`, identity, { code }))
      : ({ ok: false, reason: 'unknown' } as const);
    if (!result.ok) {
      ctx.flash.set(session.idHash, `No pending pairing request ${code} (${result.reason}).`, false);
    } else {
      ctx.flash.set(session.idHash, decision === 'approved' ? `${result.identity} may now talk to the assistant.` : `${result.identity} is blocked.`);
    }
    return c.redirect('/governance', 303);
  });

  /** As `monkeyclaw approvals approve|reject ID`, decided by the owner in the browser. */
  app.post('/governance/approval', ctx.guard.action(), async (c) => {
    const session = c.get('session');
    const body = await formBody(c);
    const id = typeof body.id === 'string' ? body.id.trim().toUpperCase() : '';
    const decision = body.decision === 'approved' || body.decision === 'rejected' ? body.decision : undefined;
    if (!decision) return c.text('Bad request.', 400);
    const at = now();
    if (APPROVAL_ID.test(id) && (await approvals().decide(id, decision, WEB_ACTOR, at, entry(`tool.${decision}`, id)))) {
      const tool = (await approvals().get(id))?.tool ?? 'tool';
      ctx.flash.set(session.idHash, decision === 'approved' ? `Tool call ${id} (${tool}) approved: it runs now.` : `Tool call ${id} (${tool}) rejected.`);
    } else {
      ctx.flash.set(session.idHash, whyUndecidable(id, APPROVAL_ID.test(id) ? await approvals().get(id) : undefined, at), false);
    }
    return c.redirect('/governance', 303);
  });

  app.post('/governance/access', ctx.guard.action(), async (c) => {
    const session = c.get('session');
    const body = await formBody(c);
    const identity = typeof body.identity === 'string' ? body.identity.trim() : '';
    const action = body.action === 'allow' || body.action === 'revoke' ? body.action : undefined;
    if (!action) return c.text('Bad request.', 400);
    const current = identity ? (await access().overrides([identity])).get(identity) : undefined;
    // An entry already stored (perhaps before these rules) can always be revoked, whatever its shape.
    const stored = action === 'revoke' && current !== undefined;
    const problem = stored ? undefined : identityProblem(identity);
    const outside = stored ? undefined : outsideAllowlist(identity);
    if (problem || outside) {
      ctx.flash.set(session.idHash, outside ? `${outside}.` : `${identity || 'That'}: ${problem}.`, false);
      return c.redirect('/governance', 303);
    }
    if (action === 'revoke') {
      if (!revocable(deps.config.access, identity, current)) {
        ctx.flash.set(session.idHash, `${identity} is not on the allowlist.`, false);
        return c.redirect('/governance', 303);
      }
    }
    await access().setOverride(identity, action, 'dashboard', entry(action === 'allow' ? 'access.allowed' : 'access.revoked', identity));
    const denied = action === 'allow' && deps.config.access.deny.includes(identity);
    ctx.flash.set(session.idHash, denied ? `${identity} allowed, but the config's deny list still refuses it.` : `${identity} ${action === 'allow' ? 'allowed' : 'revoked'}.`, !denied);
    return c.redirect('/governance', 303);
  });
}

/** Why a tool approval cannot be decided, in words: unknown, already decided, or expired. */
function whyUndecidable(id: string, a: Approval | undefined, now: number): string {
  if (!a) return `No tool approval ${id}.`;
  if (a.status === 'approved' || a.status === 'rejected') return `Tool approval ${id} was already ${a.status}; a decision cannot be changed.`;
  return `Tool approval ${id} expired at ${new Date(a.expiresAt).toISOString()}; it can no longer be decided.`;
}
