/**
 * Which phone-number jid a LID stands for, and back, as WhatsApp said last (in `remoteJidAlt`/`participantAlt`):
 * a message under either id finds the other. One LID per number and one number per LID: a number given to someone
 * new must not bring the last owner's LID (and their pairing) with it. Pairs are kept in connector state
 * (`lid:<lid>` → number); what changed is written after the messages that taught it are stored.
 */
export class LidAliases {
  private readonly map = new Map<string, string>();
  private readonly learnt: Array<[lid: string, number: string]> = [];
  /** LIDs whose number now belongs to another LID: their stored pairs are dropped. */
  private readonly forgotten: string[] = [];

  /** `stored`: the kept pairs, oldest first, so that the one WhatsApp named last wins. */
  constructor(stored: Iterable<[lid: string, number: string]>) {
    for (const [lid, number] of stored) this.link(lid, number);
  }

  /** The lookup the parser reads. */
  get view(): ReadonlyMap<string, string> {
    return this.map;
  }

  /** A pair a message taught; nothing when it was known already. */
  learn(lid: string, number: string): void {
    if (this.map.get(lid) === number && this.map.get(number) === lid) return;
    this.link(lid, number);
    this.learnt.push([lid, number]);
  }

  /** What to write to connector state since the last call: number per LID, null for a LID forgotten. */
  changes(): Array<[lid: string, number: string | null]> {
    return [...this.learnt.splice(0), ...this.forgotten.splice(0).map((lid): [string, null] => [lid, null])];
  }

  private link(lid: string, number: string): void {
    const oldNumber = this.map.get(lid);
    if (oldNumber !== undefined && oldNumber !== number) this.map.delete(oldNumber);
    const oldLid = this.map.get(number);
    if (oldLid !== undefined && oldLid !== lid) {
      this.map.delete(oldLid);
      this.forgotten.push(oldLid);
    }
    this.map.set(lid, number).set(number, lid);
  }
}
