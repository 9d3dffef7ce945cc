import type { Connection } from "./connection.ts";
import type { PublishOptions } from "./fanout.ts";
import type { RoomIndex } from "./rooms.ts";
import type { Clock } from "./settings.ts";
import type { Session } from "./session.ts";
import { FacedMap, SessionSet } from "./views.ts";

/**
 * The server's registry: every open or closing connection by its session's
 * id, the closed ones whose transport lingers, and the room index. The
 * public views show sessions; the server works with connections.
 */
export class Registry<Ctx, In extends object, Out extends object> {
  readonly #connections = new Map<string, Connection<Ctx, In, Out>>();
  readonly #lingering = new Set<Connection<Ctx, In, Out>>();
  /** Every room to its members. O(1) join, leave and lookup; empty rooms are deleted. */
  readonly rooms: RoomIndex<Connection<Ctx, In, Out>>;

  /** @param rooms The room index (the publisher's). */
  constructor(rooms: RoomIndex<Connection<Ctx, In, Out>>) {
    this.rooms = rooms;
  }

  /** Connections open or closing. */
  get size(): number {
    return this.#connections.size;
  }

  /** Connections closed before their runtime reported them gone. */
  get lingering(): number {
    return this.#lingering.size;
  }

  /** Every session open or closing, by id. */
  get sessions(): ReadonlyMap<string, Session<Ctx, In, Out>> {
    return new FacedMap(this.#connections, (connection) => connection.session);
  }

  /** Every room with at least one member, to its members' sessions. */
  get roomsView(): ReadonlyMap<string, ReadonlySet<Session<Ctx, In, Out>>> {
    const find = (session: Session<Ctx, In, Out>) => this.find(session);
    return new FacedMap(this.rooms.map, (members) => new SessionSet(members, find));
  }

  has(id: string): boolean {
    return this.#connections.has(id);
  }

  add(connection: Connection<Ctx, In, Out>): void {
    this.#connections.set(connection.session.id, connection);
  }

  /** Takes a closed connection out; a `lingering` one is kept until {@linkcode Registry.gone}. */
  remove(connection: Connection<Ctx, In, Out>, lingering: boolean): void {
    this.#connections.delete(connection.session.id);
    if (lingering) this.#lingering.add(connection);
  }

  /** A lingering connection's transport is gone at last. */
  gone(connection: Connection<Ctx, In, Out>): void {
    this.#lingering.delete(connection);
  }

  /** Every open or closing connection. */
  values(): Iterable<Connection<Ctx, In, Out>> {
    return this.#connections.values();
  }

  /**
   * Closes every connection for a shutdown and waits for them, at most
   * `timeout` ms; then releases the rest.
   */
  async closeAll(code: number, reason: string, timeout: number, clock: Clock): Promise<void> {
    const connections = [...this.#connections.values()];
    for (const connection of connections) connection.shutdown(code, reason);
    if (connections.length === 0) return;
    let timer: unknown;
    const expired = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, timeout);
    });
    await Promise.race([Promise.all(connections.map((c) => c.whenClosed())), expired]);
    clock.clearTimeout(timer);
    for (const connection of connections) connection.forceClose();
  }

  /** The connection of a session of this server, if it is still here. */
  find(session: Session<Ctx, In, Out>): Connection<Ctx, In, Out> | undefined {
    const connection = this.#connections.get(session?.id);
    return connection?.session === session ? connection : undefined;
  }

  /** The connections of sessions the user gives; `undefined` for one not (or no longer) here. */
  *connectionsOf(
    sessions: Iterable<Session<Ctx, In, Out>>,
  ): Iterable<Connection<Ctx, In, Out> | undefined> {
    for (const session of sessions) yield this.find(session);
  }

  /** The connections `except` names, if any. */
  skip(options: PublishOptions | undefined): Set<Connection<Ctx, In, Out> | undefined> | undefined {
    const except = options?.except;
    if (except === undefined) return undefined;
    return new Set(this.connectionsOf(Symbol.iterator in except ? except : [except]));
  }
}
