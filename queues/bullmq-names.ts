/**
 * How logical queue names, partition keys and job ids become BullMQ names. BullMQ uses ':' as its Redis key
 * separator, so neither queue names nor custom job ids may contain it.
 */

export const DEFAULT_PARTITIONS = 16;

/** `outbound:telegram` → `mc-outbound-telegram`. Readable in redis-cli; the logical name rides in each job too. */
export const bullQueueBase = (queue: string): string => `mc-${queue.replaceAll(':', '-')}`;

/** FNV-1a over the UTF-8 bytes: stable across processes and Node versions, unlike anything seeded. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export const partitionIndex = (partition: string, partitions: number): number => fnv1a(partition) % partitions;

/** The BullMQ queue holding one slice of a logical queue's partitions. */
export const partitionQueueName = (queue: string, index: number): string => `${bullQueueBase(queue)}-${index}`;

export const partitionQueueFor = (queue: string, partition: string, partitions: number): string =>
  partitionQueueName(queue, partitionIndex(partition, partitions));

export const allPartitionQueues = (queue: string, partitions: number): string[] =>
  Array.from({ length: partitions }, (_, i) => partitionQueueName(queue, i));

/**
 * Job ids are arbitrary caller strings; base64url keeps them free of ':' and the prefix keeps BullMQ from
 * rejecting them as integers. The encoding is injective, so idempotency on the caller's id is preserved.
 */
export const bullJobId = (id: string): string => `j${Buffer.from(id, 'utf8').toString('base64url')}`;

export const jobIdFromBull = (bullId: string): string => Buffer.from(bullId.slice(1), 'base64url').toString('utf8');
