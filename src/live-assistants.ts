import type { Logger } from 'pino';
import { assistantCandidates } from '../core/assistant-choice.js';
import { effectiveAssistants, type AssistantSettings } from '../core/assistant-settings.js';
import type { AuditInput } from '../core/audit.js';
import type { ResolveRef } from '../core/backends/index.js';
import type { AssistantConfig, Config } from '../core/config.js';
import type { ChannelEvent } from '../core/event.js';
import type { AnyPlug, PlugServices } from '../core/plug.js';
import type { SqliteSettingsStore } from '../core/sqlite/settings-store.js';
import type { RuntimeAssistant } from '../core/talk.js';
import { buildAssistant, buildAssistants, pickAssistant } from './runtime.js';

export interface LiveAssistantsDeps {
  config: Config;
  registry: ReadonlyMap<string, AnyPlug>;
  services: PlugServices;
  resolve: ResolveRef;
  settings: Pick<SqliteSettingsStore, 'routing' | 'revision' | 'savedAssistants'>;
  log: Pick<Logger, 'info' | 'warn'>;
  audit(entries: AuditInput[]): Promise<void>;
}

interface Built {
  /** The assistant's settings as JSON: equal text, nothing to rebuild. */
  key: string;
  assistant: RuntimeAssistant;
}

const built = (name: string, a: AssistantConfig, deps: LiveAssistantsDeps): Built => ({
  key: JSON.stringify(a),
  assistant: buildAssistant(name, a, deps.config, deps.registry, deps.services, deps.resolve),
});

/**
 * A worker's assistants, in step with the dashboard without a restart. Each turn reads the settings revision (one
 * primary-key lookup, with the workspace's assistant in the same query); when it moved, the saved settings are read
 * again and only the assistants whose settings changed are rebuilt through the same builder as at start. The config
 * file's assistants must build at start, as before; settings saved in the dashboard that no longer build (a backend
 * removed from the file since) are logged and audited, and the assistant keeps running as it last did.
 */
export class LiveAssistants {
  private assistants: Map<string, Built>;
  /** The same, as a turn needs it. */
  private current: Map<string, RuntimeAssistant>;
  /** The config file's assistants as built at start: a reset to config returns to exactly these. */
  private readonly fromConfig: Map<string, Built>;
  private revision = -1;
  private reloading: Promise<void> | undefined;
  private readonly reported = new Set<string>();

  private constructor(private readonly deps: LiveAssistantsDeps) {
    const start = buildAssistants(deps.config, deps.registry, deps.services, deps.resolve);
    this.fromConfig = new Map([...start].map(([name, assistant]) => [name, { key: JSON.stringify(deps.config.assistants[name]), assistant }]));
    this.assistants = new Map(this.fromConfig);
    this.current = start;
  }

  /** Builds the config file's assistants (throwing on a config error), then applies the dashboard's settings. */
  static async open(deps: LiveAssistantsDeps): Promise<LiveAssistants> {
    const live = new LiveAssistants(deps);
    await live.catchUp(await deps.settings.revision());
    return live;
  }

  /** The assistant that answers `event` now (see assistantCandidates for the order). */
  async resolve(event: ChannelEvent): Promise<RuntimeAssistant> {
    const { revision, workspaceAssistant } = await this.deps.settings.routing(event.platform, event.conversation.id);
    await this.catchUp(revision);
    return pickAssistant(assistantCandidates(this.deps.config, event, workspaceAssistant), this.current);
  }

  /** One reload at a time; turns that saw a newer revision than the reload read wait for the next. */
  private async catchUp(revision: number): Promise<void> {
    while (this.revision < revision) {
      this.reloading ??= this.reload().finally(() => (this.reloading = undefined));
      await this.reloading;
    }
  }

  private async reload(): Promise<void> {
    // The revision first: the rows read after it are at least that new.
    const revision = await this.deps.settings.revision();
    const saved = new Map<string, AssistantSettings>();
    for (const row of await this.deps.settings.savedAssistants()) {
      if ('settings' in row) saved.set(row.name, row.settings);
      else await this.report(row.name, row.error, `unreadable:${row.error}`);
    }
    const next = new Map<string, Built>();
    for (const [name, a] of Object.entries(effectiveAssistants(this.deps.config, saved))) {
      const key = JSON.stringify(a);
      const same = [this.assistants.get(name), this.fromConfig.get(name)].find((b) => b?.key === key);
      if (same) {
        next.set(name, same);
        continue;
      }
      try {
        next.set(name, built(name, a, this.deps));
        this.deps.log.info({ assistant: name, revision }, 'assistant rebuilt from dashboard settings');
      } catch (error) {
        await this.report(name, (error as Error).message, key);
        const last = this.assistants.get(name) ?? this.fromConfig.get(name);
        if (last) next.set(name, last);
      }
    }
    this.assistants = next;
    this.current = new Map([...next].map(([name, b]) => [name, b.assistant]));
    this.revision = revision;
  }

  /** Once per assistant and settings: every turn would otherwise say it again. */
  private async report(name: string, error: string, key: string): Promise<void> {
    if (this.reported.has(`${name}\n${key}`)) return;
    this.reported.add(`${name}\n${key}`);
    this.deps.log.warn({ assistant: name, error }, 'dashboard settings of an assistant do not build; it keeps running as before');
    await this.deps.audit([{ kind: 'assistant.invalid', actor: 'worker', subject: name, data: { error: error.slice(0, 500) } }]);
  }
}
