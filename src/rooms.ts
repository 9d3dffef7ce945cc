/**
 * The server's room index: each room name to the set of its members.
 * Every operation is O(1); an empty room is deleted at once.
 *
 * The member's own view of its rooms (`session.rooms`) is kept by the
 * session; the two are changed together, never scanned.
 */
export class RoomIndex<Member> {
  readonly #rooms = new Map<string, Set<Member>>();

  /** Every room with at least one member. */
  get map(): ReadonlyMap<string, ReadonlySet<Member>> {
    return this.#rooms;
  }

  /** Adds a member to a room, creating the room. */
  add(room: string, member: Member): void {
    const members = this.#rooms.get(room);
    if (members === undefined) this.#rooms.set(room, new Set([member]));
    else members.add(member);
  }

  /** Removes a member from a room, deleting the room once empty. */
  delete(room: string, member: Member): void {
    const members = this.#rooms.get(room);
    if (members === undefined) return;
    members.delete(member);
    if (members.size === 0) this.#rooms.delete(room);
  }

  /** The members of a room, or `undefined` if the room is empty. */
  get(room: string): ReadonlySet<Member> | undefined {
    return this.#rooms.get(room);
  }
}
