/**
 * The members of one room. `held` is set while the server keeps the room's
 * history: a publish reads it to choose its path, so a room without a
 * history costs one field read.
 */
export class Room<Member> extends Set<Member> {
  /** The server holds the room in its history (PROTOCOL.md, v1). */
  held = false;
}

/** What a {@linkcode RoomIndex} tells its owner. */
export interface RoomEvents<Member> {
  /** A room was made for its first member. */
  created(name: string, room: Room<Member>): void;
  /** A room lost its last member and is gone. */
  deleted(name: string, room: Room<Member>): void;
}

/**
 * The server's room index: each room name to the set of its members.
 * Every operation is O(1); an empty room is deleted at once.
 *
 * The member's own view of its rooms (`session.rooms`) is kept by the
 * session; the two are changed together, never scanned.
 */
export class RoomIndex<Member> {
  readonly #rooms = new Map<string, Room<Member>>();
  readonly #events: RoomEvents<Member> | undefined;

  /** @param events Told when a room is made and when it is gone. */
  constructor(events?: RoomEvents<Member>) {
    this.#events = events;
  }

  /** Every room with at least one member. */
  get map(): ReadonlyMap<string, ReadonlySet<Member>> {
    return this.#rooms;
  }

  /** Adds a member to a room, creating the room. */
  add(room: string, member: Member): void {
    const members = this.#rooms.get(room);
    if (members !== undefined) {
      members.add(member);
      return;
    }
    const made = new Room<Member>().add(member) as Room<Member>;
    this.#rooms.set(room, made);
    this.#events?.created(room, made);
  }

  /** Removes a member from a room, deleting the room once empty. */
  delete(room: string, member: Member): void {
    const members = this.#rooms.get(room);
    if (members === undefined) return;
    members.delete(member);
    if (members.size > 0) return;
    this.#rooms.delete(room);
    this.#events?.deleted(room, members);
  }

  /** The members of a room, or `undefined` if the room is empty. */
  get(room: string): Room<Member> | undefined {
    return this.#rooms.get(room);
  }
}
