import { v7 } from 'uuid';

/**
 * A new id for an event the gateway mints itself (loopback, web chat, API, a Discord message). Time-ordered
 * (UUIDv7): the ids end up as keys of the queue's, the dedupe marks' and the send records' indexes, and an id that
 * sorts after the previous one lands on the same B-tree page as it, where a random one dirties a page of its own
 * in each index. Measured on the bench's loopback ids: the end-to-end embedded rate rose by about a tenth (median of
 * five interleaved runs, 1,981 to 2,180 msgs/s) and each process spent about 5% less CPU per message.
 */
export const newEventId = (): string => v7();
