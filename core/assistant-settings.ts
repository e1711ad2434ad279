import { z } from 'zod';
import { assistantSchema, type AssistantConfig, type Config } from './config.js';
import type { SavedAssistant } from './sqlite/settings-store.js';

/** A name for an assistant made in the dashboard: the config's alphabet, led by a letter or digit (never `.` or `..`). */
export const NEW_ASSISTANT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * What the dashboard may set on an assistant, checked by the config file's own assistant schema: the system prompt
 * (required here), the backends by name (primary first, then fallbacks, no repeats), the model override, the fallback
 * mode and the four plug pipelines. What it cannot set (`tools`, `fallbackLabel`) keeps the config file's value.
 */
export const assistantSettingsSchema = assistantSchema
  .pick({ fallback: true, pipelines: true })
  .extend({
    model: assistantSchema.shape.model.unwrap().max(200).optional(),
    systemPrompt: assistantSchema.shape.systemPrompt.unwrap().refine((s) => s.trim().length > 0, { message: 'a system prompt is required' }),
    backend: z
      .array(z.string().min(1))
      .min(1, { message: 'choose a primary backend' })
      .max(8)
      .refine((names) => new Set(names).size === names.length, { message: 'a backend may appear only once' }),
  })
  .strict();
export type AssistantSettings = z.infer<typeof assistantSettingsSchema>;

/** The backend names an assistant may use: those the config file defines, plus `echo`, which always exists. */
export function backendNames(config: Config): string[] {
  return [...new Set([...Object.keys(config.backends), 'echo'])];
}

/** The editable part of an assistant, as the dashboard's form starts from it. */
export function settingsOf(a: AssistantConfig): AssistantSettings {
  return { systemPrompt: a.systemPrompt, backend: [a.backend].flat(), fallback: a.fallback, pipelines: a.pipelines, ...(a.model ? { model: a.model } : {}) };
}

/**
 * An assistant as it runs: the config file's (or the defaults, for one made in the dashboard) with the dashboard's
 * settings over it. The settings say everything they cover: no model there means no override, even if the file has one.
 */
export function applySettings(base: AssistantConfig | undefined, settings: AssistantSettings): AssistantConfig {
  const merged: AssistantConfig = { ...(base ?? assistantSchema.parse({})), ...settings };
  if (settings.model === undefined) delete merged.model;
  return merged;
}

/** Every assistant that runs: the config file's, each with its dashboard settings applied, then those made in the dashboard. */
export function effectiveAssistants(config: Config, saved: ReadonlyMap<string, AssistantSettings>): Record<string, AssistantConfig> {
  const out: Record<string, AssistantConfig> = {};
  for (const [name, a] of Object.entries(config.assistants)) out[name] = saved.has(name) ? applySettings(a, saved.get(name)!) : a;
  for (const [name, s] of [...saved].sort(([a], [b]) => a.localeCompare(b))) out[name] ??= applySettings(undefined, s);
  return out;
}

/** Every assistant that can answer: the config file's in its order, then those made in the dashboard whose settings still validate. */
export async function allAssistantNames(config: Config, settings: { savedAssistants(): Promise<SavedAssistant[]> }): Promise<string[]> {
  const saved = (await settings.savedAssistants()).filter((a) => 'settings' in a).map((a) => a.name);
  return [...new Set([...Object.keys(config.assistants), ...saved.sort()])];
}

/** The assistant `name` as it runs: the config file's with its dashboard settings applied, or one made there. */
export async function effectiveAssistant(config: Config, settings: { savedAssistants(): Promise<SavedAssistant[]> }, name: string): Promise<AssistantConfig | undefined> {
  const saved = (await settings.savedAssistants()).find((a) => a.name === name);
  return saved && 'settings' in saved ? applySettings(config.assistants[name], saved.settings) : config.assistants[name];
}
