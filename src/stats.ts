import type { History } from "./history.ts";

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
  /** Sessions of protocol v1 open now. */
  readonly protocolSessions: number;
  /** `$heartbeat`s sent to idle v1 sessions. */
  readonly heartbeats: number;
  /** `$join`s answered `joined` (a room already joined counts too). */
  readonly joins: number;
  /** `$join`s refused: not authorized, over `maxRoomsPerSession`, closed, or the hook failed. */
  readonly joinsRefused: number;
  /** Room messages replayed to clients that came back (`recovered: true`). */
  readonly messagesReplayed: number;
  /** `$join`s with `since` answered `recovered: false`. */
  readonly unrecovered: number;
  /** Rooms with a history now (the history's, shared with other servers if it is). */
  readonly historyRooms: number;
  /** Room messages kept in the history now. */
  readonly historyMessages: number;
  /** Bytes kept in the history now. */
  readonly historyBytes: number;
  /** Room messages evicted from the history by a bound (messages, bytes, age, total). */
  readonly historyEvicted: number;
  /** Room histories dropped: no member and no message for the age bound. */
  readonly historyRoomsDropped: number;
}

/** The `history*` fields of {@linkcode ServerStats}. */
export function historyStats(history: History | undefined): {
  historyRooms: number;
  historyMessages: number;
  historyBytes: number;
  historyEvicted: number;
  historyRoomsDropped: number;
} {
  const stats = history?.stats;
  return {
    historyRooms: stats?.rooms ?? 0,
    historyMessages: stats?.messages ?? 0,
    historyBytes: stats?.bytes ?? 0,
    historyEvicted: stats?.evicted ?? 0,
    historyRoomsDropped: stats?.roomsDropped ?? 0,
  };
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
  heartbeats = 0;
  joins = 0;
  joinsRefused = 0;
  messagesReplayed = 0;
  unrecovered = 0;
}
