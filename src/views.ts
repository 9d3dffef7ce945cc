/**
 * Read-only views that show the server's connections as their sessions,
 * without a second copy: `server.sessions` and the member sets of
 * `server.rooms`. Each lookup and step of an iteration maps one
 * connection to its session, O(1).
 */

/** Anything with a public face. */
interface _Faced<S> {
  readonly session: S;
}

/** A set of connections seen as a set of sessions. */
export class SessionSet<S extends { readonly id: string }, C extends _Faced<S>>
  implements ReadonlySet<S> {
  readonly #members: ReadonlySet<C>;
  readonly #find: (session: S) => C | undefined;

  constructor(members: ReadonlySet<C>, find: (session: S) => C | undefined) {
    this.#members = members;
    this.#find = find;
  }

  get size(): number {
    return this.#members.size;
  }

  has(session: S): boolean {
    const connection = this.#find(session);
    return connection !== undefined && this.#members.has(connection);
  }

  forEach(fn: (value: S, key: S, set: ReadonlySet<S>) => void, thisArg?: unknown): void {
    for (const connection of this.#members) {
      fn.call(thisArg, connection.session, connection.session, this);
    }
  }

  *values(): SetIterator<S> {
    for (const connection of this.#members) yield connection.session;
  }

  keys(): SetIterator<S> {
    return this.values();
  }

  *entries(): SetIterator<[S, S]> {
    for (const connection of this.#members) yield [connection.session, connection.session];
  }

  [Symbol.iterator](): SetIterator<S> {
    return this.values();
  }

  union<U>(other: ReadonlySetLike<U>): Set<S | U> {
    return new Set(this.values()).union(other);
  }

  intersection<U>(other: ReadonlySetLike<U>): Set<S & U> {
    return new Set(this.values()).intersection(other);
  }

  difference<U>(other: ReadonlySetLike<U>): Set<S> {
    return new Set(this.values()).difference(other);
  }

  symmetricDifference<U>(other: ReadonlySetLike<U>): Set<S | U> {
    return new Set(this.values()).symmetricDifference(other);
  }

  isSubsetOf(other: ReadonlySetLike<unknown>): boolean {
    return new Set(this.values()).isSubsetOf(other);
  }

  isSupersetOf(other: ReadonlySetLike<unknown>): boolean {
    return new Set(this.values()).isSupersetOf(other);
  }

  isDisjointFrom(other: ReadonlySetLike<unknown>): boolean {
    return new Set(this.values()).isDisjointFrom(other);
  }
}

/** A map to connections (or to sets of them) seen as a map to their faces. */
export class FacedMap<K, A, B> implements ReadonlyMap<K, B> {
  readonly #map: ReadonlyMap<K, A>;
  readonly #face: (value: A) => B;

  constructor(map: ReadonlyMap<K, A>, face: (value: A) => B) {
    this.#map = map;
    this.#face = face;
  }

  get size(): number {
    return this.#map.size;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  get(key: K): B | undefined {
    const value = this.#map.get(key);
    return value === undefined ? undefined : this.#face(value);
  }

  forEach(fn: (value: B, key: K, map: ReadonlyMap<K, B>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.#map) fn.call(thisArg, this.#face(value), key, this);
  }

  keys(): MapIterator<K> {
    return this.#map.keys();
  }

  *values(): MapIterator<B> {
    for (const value of this.#map.values()) yield this.#face(value);
  }

  *entries(): MapIterator<[K, B]> {
    for (const [key, value] of this.#map) yield [key, this.#face(value)];
  }

  [Symbol.iterator](): MapIterator<[K, B]> {
    return this.entries();
  }
}
