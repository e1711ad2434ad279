import type { Statement } from 'better-sqlite3';
import { assistantSettingsSchema, type AssistantSettings } from '../assistant-settings.js';
import type { AuditInput } from '../audit.js';
import { write, type Db } from '../db.js';
import { DEFAULT_WORKSPACE } from '../store.js';

/** An assistant row as the dashboard saved it; a row that no longer validates says why instead of running. */
export type SavedAssistant = { name: string; createdAt: string; updatedAt: string } & ({ settings: AssistantSettings } | { error: string });

export interface WorkspaceRecord {
  id: string;
  displayName: string | null;
  /** The assistant that answers the workspace's channels by default; null: the connector's, else `default`. */
  assistant: string | null;
  createdAt: string;
  updatedAt: string | null;
  channels: number;
}

export interface WorkspaceFields {
  displayName: string | null;
  assistant: string | null;
}

interface WorkspaceRow {
  id: string;
  display_name: string | null;
  assistant: string | null;
  created_at: string;
  updated_at: string | null;
  channels: number;
}

const WORKSPACE_SELECT = `SELECT w.id, w.display_name, w.assistant, w.created_at, w.updated_at,
    (SELECT COUNT(*) FROM channels c WHERE c.workspace_id = w.id) AS channels FROM workspaces w`;

const toWorkspace = (r: WorkspaceRow): WorkspaceRecord => ({
  id: r.id,
  displayName: r.display_name,
  assistant: r.assistant,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  channels: r.channels,
});

function parseSettings(text: string): { settings: AssistantSettings } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { error: 'stored settings are not JSON' };
  }
  const parsed = assistantSettingsSchema.safeParse(raw);
  return parsed.success ? { settings: parsed.data } : { error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}

/**
 * Assistants and workspaces as the dashboard set them. Every change bumps the settings revision and appends its
 * audit entries in the same transaction: a worker that sees the new revision sees the change, and no change goes
 * unaudited.
 */
export class SqliteSettingsStore {
  private routingQuery?: Statement;

  constructor(
    private readonly db: Db,
    private readonly appendAudit: (entries: AuditInput[]) => void,
  ) {}

  /**
   * What a worker reads on each turn: the settings revision, and the assistant of the workspace the conversation is
   * in (a conversation seen for the first time joins the default workspace).
   */
  async routing(platform: string, conversationId: string): Promise<{ revision: number; workspaceAssistant: string | null }> {
    this.routingQuery ??= this.db.prepare(`SELECT (SELECT revision FROM settings_revision WHERE id = 1) AS revision,
      (SELECT assistant FROM workspaces WHERE id = COALESCE(
        (SELECT workspace_id FROM channels WHERE platform = @platform AND conversation_id = @conversationId), @fallback)) AS workspaceAssistant`);
    return this.routingQuery.get({ platform, conversationId, fallback: DEFAULT_WORKSPACE }) as { revision: number; workspaceAssistant: string | null };
  }

  async revision(): Promise<number> {
    return this.db.prepare('SELECT revision FROM settings_revision WHERE id = 1').pluck().get() as number;
  }

  async savedAssistants(): Promise<SavedAssistant[]> {
    const rows = this.db.prepare('SELECT name, settings, created_at, updated_at FROM assistant_settings ORDER BY name').all() as Array<{
      name: string;
      settings: string;
      created_at: string;
      updated_at: string;
    }>;
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, updatedAt: r.updated_at, ...parseSettings(r.settings) }));
  }

  /** `create` refuses a name that already has a row ('exists'); otherwise the row is written or replaced. */
  async saveAssistant(name: string, settings: AssistantSettings, options: { create: boolean }, audit: AuditInput[]): Promise<'saved' | 'exists'> {
    const at = new Date().toISOString();
    const json = JSON.stringify(assistantSettingsSchema.parse(settings));
    return write(this.db, () => {
      const written = this.db
        .prepare(`INSERT INTO assistant_settings (name, settings, created_at, updated_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (name) DO ${options.create ? 'NOTHING' : 'UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at'}`)
        .run(name, json, at, at);
      if (written.changes === 0) return 'exists' as const;
      this.changed(audit);
      return 'saved' as const;
    });
  }

  /** Removes the dashboard's settings for `name`; false when it had none. */
  async resetAssistant(name: string, audit: AuditInput[]): Promise<boolean> {
    return write(this.db, () => {
      if (this.db.prepare('DELETE FROM assistant_settings WHERE name = ?').run(name).changes === 0) return false;
      this.changed(audit);
      return true;
    });
  }

  /**
   * Deletes an assistant made in the dashboard. Refused, with the workspaces named, while a workspace answers with
   * it: its conversations would silently fall back to another assistant.
   */
  async deleteAssistant(name: string, audit: AuditInput[]): Promise<{ deleted: boolean; usedBy: string[] }> {
    return write(this.db, () => {
      const usedBy = this.db.prepare('SELECT id FROM workspaces WHERE assistant = ? ORDER BY id').pluck().all(name) as string[];
      if (usedBy.length > 0) return { deleted: false, usedBy };
      if (this.db.prepare('DELETE FROM assistant_settings WHERE name = ?').run(name).changes === 0) return { deleted: false, usedBy };
      this.changed(audit);
      return { deleted: true, usedBy };
    });
  }

  async workspaces(): Promise<WorkspaceRecord[]> {
    return (this.db.prepare(`${WORKSPACE_SELECT} ORDER BY w.id`).all() as WorkspaceRow[]).map(toWorkspace);
  }

  async workspace(id: string): Promise<WorkspaceRecord | undefined> {
    const row = this.db.prepare(`${WORKSPACE_SELECT} WHERE w.id = ?`).get(id) as WorkspaceRow | undefined;
    return row && toWorkspace(row);
  }

  /** false, and nothing written, when the id is taken. */
  async createWorkspace(id: string, fields: WorkspaceFields, audit: AuditInput[]): Promise<boolean> {
    const at = new Date().toISOString();
    return write(this.db, () => {
      const written = this.db
        .prepare('INSERT INTO workspaces (id, display_name, assistant, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING')
        .run(id, fields.displayName, fields.assistant, at, at);
      if (written.changes === 0) return false;
      this.changed(audit);
      return true;
    });
  }

  /** false when there is no such workspace. */
  async updateWorkspace(id: string, fields: WorkspaceFields, audit: AuditInput[]): Promise<boolean> {
    return write(this.db, () => {
      const written = this.db
        .prepare('UPDATE workspaces SET display_name = ?, assistant = ?, updated_at = ? WHERE id = ?')
        .run(fields.displayName, fields.assistant, new Date().toISOString(), id);
      if (written.changes === 0) return false;
      this.changed(audit);
      return true;
    });
  }

  /** Within the change's transaction. */
  private changed(audit: AuditInput[]): void {
    this.db.prepare('UPDATE settings_revision SET revision = revision + 1 WHERE id = 1').run();
    this.appendAudit(audit);
  }
}
