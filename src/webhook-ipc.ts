import { z } from 'zod';

/** The HTTP server hands a webhook's raw request to its connector process over IPC, and gets the answer back. */
export const WEBHOOK_REQUEST = 'monkeyclaw:webhook';
export const WEBHOOK_RESPONSE = 'monkeyclaw:webhook-response';

const requestSchema = z.object({
  type: z.literal(WEBHOOK_REQUEST),
  id: z.string(),
  method: z.string(),
  path: z.string(),
  headers: z.record(z.string(), z.string()),
  /** base64 of the raw body, so signatures verify over the exact bytes. */
  body: z.string(),
});
export type WebhookMessage = z.infer<typeof requestSchema>;

const responseSchema = z.object({
  type: z.literal(WEBHOOK_RESPONSE),
  id: z.string(),
  status: z.number().int().min(100).max(599),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.string().optional(),
});
export type WebhookAnswer = z.infer<typeof responseSchema>;

export const isWebhookMessage = (m: unknown): m is WebhookMessage => requestSchema.safeParse(m).success;
export const parseWebhookAnswer = (m: unknown): WebhookAnswer | undefined => {
  const r = responseSchema.safeParse(m);
  return r.success ? r.data : undefined;
};
