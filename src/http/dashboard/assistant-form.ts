import { z } from 'zod';
import { assistantSettingsSchema, backendNames, NEW_ASSISTANT_NAME, type AssistantSettings } from '../../../core/assistant-settings.js';
import { LIFECYCLE_EVENTS, pipelineEntry, type Config, type LifecycleEvent, type PipelineEntry } from '../../../core/config.js';
import { initStep, type AnyPlug, type PlugServices } from '../../../core/plug.js';
import { MemoryLimiter } from '../../../core/rate-limiter.js';
import type { FieldErrors } from './fields.js';

/** Fallback backends the form offers at most. */
export const MAX_FALLBACKS = 4;
const MAX_PIPELINE_ENTRIES = 32;
const PLUG_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The assistant form as typed: all strings, so a refused form comes back exactly as it was sent. */
export interface AssistantForm {
  name: string;
  systemPrompt: string;
  /** The primary backend. */
  backend: string;
  /** `fallbackBackend1…`, in order; empty strings are unused slots. */
  fallbacks: string[];
  model: string;
  /** auto | ask */
  fallback: string;
  pipelines: Record<LifecycleEvent, string>;
}

export const fallbackField = (i: number) => `fallbackBackend${i + 1}`;

type Body = Record<string, string | File | Array<string | File>>;
const text = (v: Body[string] | undefined): string => (typeof v === 'string' ? v : '');

export function formFromBody(body: Body, name: string): AssistantForm {
  return {
    name,
    systemPrompt: text(body.systemPrompt),
    backend: text(body.backend),
    fallbacks: Array.from({ length: MAX_FALLBACKS }, (_, i) => text(body[fallbackField(i)])),
    model: text(body.model),
    fallback: text(body.fallback),
    pipelines: Object.fromEntries(LIFECYCLE_EVENTS.map((e) => [e, text(body[e])])) as Record<LifecycleEvent, string>,
  };
}

export function formFromSettings(name: string, s: AssistantSettings): AssistantForm {
  return {
    name,
    systemPrompt: s.systemPrompt,
    backend: s.backend[0] ?? '',
    fallbacks: s.backend.slice(1),
    model: s.model ?? '',
    fallback: s.fallback,
    pipelines: Object.fromEntries(LIFECYCLE_EVENTS.map((e) => [e, formatPipeline(s.pipelines[e])])) as Record<LifecycleEvent, string>,
  };
}

/** Plug names separated by commas; a pipeline with options on any entry is shown as its JSON array instead. */
export function formatPipeline(entries: PipelineEntry[]): string {
  return entries.every((e) => typeof e === 'string') ? entries.join(', ') : JSON.stringify(entries);
}

/** The inverse of formatPipeline: `rate-limit, access` (commas or spaces), or a JSON array of names and `{plug, …options}`. */
export function parsePipeline(input: string): { entries: PipelineEntry[] } | { error: string } {
  const t = input.trim();
  if (t === '') return { entries: [] };
  if (t.startsWith('[')) {
    let raw: unknown;
    try {
      raw = JSON.parse(t);
    } catch {
      return { error: 'not valid JSON: write plug names separated by commas, or a JSON array' };
    }
    const parsed = z.array(pipelineEntry).max(MAX_PIPELINE_ENTRIES).safeParse(raw);
    return parsed.success ? { entries: parsed.data } : { error: 'a JSON pipeline is an array of plug names and {"plug": name, …options} objects' };
  }
  const names = t.split(/[\s,]+/).filter(Boolean);
  const bad = names.find((n) => !PLUG_NAME.test(n));
  if (bad !== undefined) return { error: `"${bad.slice(0, 40)}" is not a plug name` };
  if (names.length > MAX_PIPELINE_ENTRIES) return { error: `at most ${MAX_PIPELINE_ENTRIES} plugs` };
  return { entries: names };
}

/** Services for checking plug options in a process that runs no turns: init keeps them, and nothing calls them. */
export function checkingServices(config: Config): PlugServices {
  const unavailable = () => Promise.reject(new Error('not available while checking plug options'));
  return { config, now: Date.now, extra: {}, limiter: new MemoryLimiter(), sessions: { holdBudget: unavailable, channelWorkspace: unavailable, closeSession: unavailable, history: unavailable } };
}

export interface CheckContext {
  config: Config;
  plugs: ReadonlyMap<string, AnyPlug>;
  services: PlugServices;
  /** Set when creating: every name already in use (config file and dashboard). */
  taken?: ReadonlySet<string>;
}

/**
 * Checks a submitted form: the name (when creating), the config's assistant schema, backends by the config file's
 * names only (a URL, command or argument can never come from the dashboard), and each pipeline entry against the
 * plug registry, its options through the plug's own init. Every problem is reported against its field.
 */
export function checkAssistantForm(form: AssistantForm, ctx: CheckContext): { settings: AssistantSettings } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const fail = (field: string, message: string) => void (errors[field] ??= message);

  if (ctx.taken) {
    if (!NEW_ASSISTANT_NAME.test(form.name)) fail('name', '1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit');
    else if (ctx.taken.has(form.name)) fail('name', `an assistant named "${form.name}" already exists`);
  }

  const known = backendNames(ctx.config);
  const chosen: string[] = [];
  const slots: Array<[field: string, name: string]> = [['backend', form.backend.trim()], ...form.fallbacks.map((f, i): [string, string] => [fallbackField(i), f.trim()])];
  for (const [field, name] of slots) {
    if (name === '') {
      if (field === 'backend') fail(field, 'choose a primary backend');
      continue;
    }
    if (!known.includes(name)) fail(field, `unknown backend "${name.slice(0, 64)}": choose one the config file defines (${known.join(', ')})`);
    else if (chosen.includes(name)) fail(field, `"${name}" is already chosen above`);
    chosen.push(name);
  }

  const pipelines: Partial<Record<LifecycleEvent, PipelineEntry[]>> = {};
  for (const stage of LIFECYCLE_EVENTS) {
    const parsed = parsePipeline(form.pipelines[stage]);
    if ('error' in parsed) {
      fail(stage, parsed.error);
      continue;
    }
    for (const [i, entry] of parsed.entries.entries()) {
      try {
        initStep(entry, ctx.plugs, ctx.services, stage);
      } catch (error) {
        fail(stage, `entry ${i + 1}: ${(error as Error).message}`);
      }
    }
    pipelines[stage] = parsed.entries;
  }

  const model = form.model.trim();
  // Browsers send a textarea's line breaks as CRLF.
  const candidate = { systemPrompt: form.systemPrompt.replace(/\r\n?/g, '\n'), backend: chosen, fallback: form.fallback, pipelines, ...(model ? { model } : {}) };
  const parsed = assistantSettingsSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const [head, stage] = issue.path;
      const field = head === 'pipelines' && typeof stage === 'string' ? stage : head === undefined ? 'systemPrompt' : String(head);
      fail(field, issue.message);
    }
  }
  if (Object.keys(errors).length > 0 || !parsed.success) return { errors };
  return { settings: parsed.data };
}
