import { z } from 'zod';

/**
 * A job's data as this driver writes it; `skew` corrects BullMQ's delivery count to the attempt number we report.
 * Checked on every delivery: Redis is shared, and a job written by something else (or damaged) is dead-lettered, not
 * run, and not left to block its partition.
 */
export const envelopeSchema = z.object({
  queue: z.string(),
  id: z.string(),
  partition: z.string(),
  payload: z.unknown(),
  skew: z.number().int().optional(),
});
export type Envelope = z.infer<typeof envelopeSchema>;
