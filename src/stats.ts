/** Server-wide counters, as `server.stats` reports them. */
export interface ServerStats {
  /** Sessions open or closing now. */
  readonly sessions: number;
  /**
   * Sessions released (`cause.forced`) whose connection the runtime has not
   * closed yet: a peer that never answers the close keeps its TCP connection
   * open on Deno, which has no way to abort it. They still count toward
   * `maxSessions` and `maxSessionsPerClient` until the connection ends.
   */
  readonly lingering: number;
  /** Upgrades under way: in the context factory, or accepted and waiting for their socket to open. */
  readonly handshakes: number;
  /**
   * Accepted upgrades given back without a session: the client left before
   * its socket opened, the runtime could not upgrade, or the socket did not
   * open within `handshakeTimeout` (a runtime may report nothing at all for
   * a client gone before the 101).
   */
  readonly abandoned: number;
  /** Rooms with at least one member now. */
  readonly rooms: number;
  /** Sessions ever opened. */
  readonly opened: number;
  /** Sessions ever closed. */
  readonly closed: number;
  /** Upgrade requests refused before the upgrade (each also reaches `onRefuse`). */
  readonly rejected: number;
  /** Messages received. */
  readonly messagesReceived: number;
  /** Messages handed to sockets. */
  readonly messagesSent: number;
  /** Outgoing messages dropped, for any reason. */
  readonly messagesDropped: number;
  /** Outgoing bytes dropped. */
  readonly bytesDropped: number;
  /** Inbound text frames that were not valid envelopes. */
  readonly invalidMessages: number;
  /** Inbound messages rejected by the rate limit or a full handler backlog. */
  readonly messagesRejected: number;
  /** Sessions closed because their send queue overflowed. */
  readonly overflowCloses: number;
  /** Sessions closed with 1009 for an inbound message too large. */
  readonly tooLargeCloses: number;
}

/**
 * The running totals behind {@linkcode ServerStats}: one per server, handed
 * to the parts that count (gate, outbound and inbound sides).
 */
export class Tally {
  opened = 0;
  closed = 0;
  rejected = 0;
  messagesReceived = 0;
  messagesSent = 0;
  messagesDropped = 0;
  bytesDropped = 0;
  invalidMessages = 0;
  messagesRejected = 0;
  overflowCloses = 0;
  tooLargeCloses = 0;
}
