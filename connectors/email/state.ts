import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ConnectorDeps } from '../../core/connector.js';

/**
 * What the email connector keeps in connector state. A Reply carries only the thread (conversation id) and the
 * parent's Message-ID, so everything needed to answer a message — where the reply goes, the subject, the parent's
 * References — is stored under that Message-ID when it is published. The assistant's own Message-IDs are stored
 * too, so a reply to the assistant's reply finds its thread even when the client dropped References.
 * No message text is kept here: bodies stay in the mailbox and the history.
 */

const messageRecord = z
  .object({
    root: z.string().min(1),
    own: z.boolean().optional(),
    /** Where a reply to this message goes: Reply-To, else From. Absent for the assistant's own messages. */
    to: z.string().optional(),
    /** Who sent it (From): a later mail under the same Message-ID from anyone else is not this one. */
    from: z.string().optional(),
    subject: z.string().optional(),
    references: z.array(z.string()).optional(),
  })
  .strict();
export type MessageRecord = z.infer<typeof messageRecord>;

const cursor = z.object({ uidValidity: z.string(), lastUid: z.number().int().nonnegative() }).strict();
export type Cursor = z.infer<typeof cursor>;

const hash = (s: string): string => createHash('sha256').update(s).digest('base64url').slice(0, 32);

export class EmailState {
  constructor(
    private readonly store: ConnectorDeps['store'],
    private readonly connector: string,
  ) {}

  private async read<T>(schema: z.ZodType<T>, key: string): Promise<T | undefined> {
    const parsed = schema.safeParse(await this.store.getConnectorState(this.connector, key));
    return parsed.success ? parsed.data : undefined;
  }

  message(messageId: string): Promise<MessageRecord | undefined> {
    return this.read(messageRecord, `msg:${messageId}`);
  }

  remember(messageId: string, record: MessageRecord): Promise<void> {
    return this.store.setConnectorState(this.connector, `msg:${messageId}`, record);
  }

  /** The thread's latest inbound Message-ID: what a reply without a usable parent answers. */
  latest(root: string): Promise<string | undefined> {
    return this.read(z.string(), `thread:${hash(root)}`);
  }

  setLatest(root: string, messageId: string): Promise<void> {
    return this.store.setConnectorState(this.connector, `thread:${hash(root)}`, messageId);
  }

  /** Thread root of a sender's earlier mail with this base subject: for clients that drop References. */
  bySubject(sender: string, base: string): Promise<string | undefined> {
    return this.read(z.string(), `subject:${hash(`${sender}\u0000${base.toLowerCase()}`)}`);
  }

  setBySubject(sender: string, base: string, root: string): Promise<void> {
    return this.store.setConnectorState(this.connector, `subject:${hash(`${sender}\u0000${base.toLowerCase()}`)}`, root);
  }

  cursor(mailbox: string): Promise<Cursor | undefined> {
    return this.read(cursor, `cursor:${mailbox}`);
  }

  setCursor(mailbox: string, value: Cursor): Promise<void> {
    return this.store.setConnectorState(this.connector, `cursor:${mailbox}`, value);
  }
}
