/**
 * A small in-memory server speaking the protocol v1 wire format of issue
 * 12 (/work/notes/protocol12.md) over {@linkcode FakeNet}: `$hello`,
 * `$heartbeat`, `$join` / `$leave` with `since` and replay, room messages
 * with `room` and `seq`, requests with `$reply`. Every delivery, either
 * way, goes through a microtask, as a real socket's would.
 */
import { type Client, connect } from "../client/client.ts";
import type { ClientOptions } from "../client/options.ts";
import { FakeTimers } from "./_fake_socket.ts";
import { FakeNet, FakeNetwork, type FakeSocket, seeded, settle } from "./_fake_ws.ts";

/** What a request handler of the fake server may throw to answer with an error. */
export class FakeRequestError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Returned by a request handler: no answer now (the test answers with `reply`). */
export const NO_REPLY: unique symbol = Symbol("no reply");

/** A session of the fake server. */
export interface FakeSession {
  readonly id: string;
  readonly socket: FakeSocket;
  readonly rooms: Set<string>;
}

interface _Room {
  epoch: string;
  seq: number;
  log: { seq: number; text: string }[];
}

/** Options of the fake server. */
export interface FakeServerOptions {
  /** `$hello`'s heartbeat in ms (0: none). @default {15_000} */
  heartbeat?: number;
  /** `$hello`'s limits. */
  limits?: Record<string, number>;
  /** Room messages get `seq` and a replay window. @default {true} */
  history?: boolean;
  /** The replay window in messages. @default {256} */
  window?: number;
  /** Decides each `$join`: `true`, or an error code. @default {() => true} */
  authorizeJoin?: (session: FakeSession, room: string) => true | string;
  /** Request handlers: a value, a throw of {@linkcode FakeRequestError}, or {@linkcode NO_REPLY}. */
  requests?: Record<string, (input: unknown, session: FakeSession) => unknown>;
  /** Accept sockets by itself (on a microtask). @default {true} */
  autoAccept?: boolean;
}

/** The fake server: one per {@linkcode FakeNet}. */
export class FakeServer {
  readonly net: FakeNet;
  readonly options: FakeServerOptions;
  readonly sessions = new Map<FakeSocket, FakeSession>();
  readonly rooms = new Map<string, _Room>();
  /** Every envelope clients sent, in order (control ones too). */
  // deno-lint-ignore no-explicit-any
  readonly received: any[] = [];
  /** Refuse every new socket (as a down server, or a 401 before the upgrade, looks). */
  down = false;
  /** Send nothing at all (a proxy gone silent). */
  silent = false;
  #sessions = 0;
  #epochs = 0;

  constructor(net: FakeNet = new FakeNet(), options: FakeServerOptions = {}) {
    this.net = net;
    this.options = options;
    net.onSocket = (socket) =>
      queueMicrotask(() => {
        if (this.down) socket.refuse();
        else if (options.autoAccept ?? true) this.accept(socket);
      });
    net.onSend = (socket, text) => queueMicrotask(() => this.#frame(socket, text));
    net.onClose = (socket) => this.sessions.delete(socket);
  }

  /** The `WebSocket` option for a client. */
  get WebSocket(): FakeNet["WebSocket"] {
    return this.net.WebSocket;
  }

  /** Accepts a socket: `open` with `switchboard.v1` if offered, then `$hello`. */
  accept(socket: FakeSocket): void {
    if (socket.readyState !== 0) return;
    const protocol = socket.protocols.find((p) => p.startsWith("switchboard.v1")) ?? "";
    socket.fireOpen(protocol);
    const session = { id: `s${++this.#sessions}`, socket, rooms: new Set<string>() };
    this.sessions.set(socket, session);
    if (protocol !== "") {
      this.send(socket, {
        topic: "$hello",
        data: {
          version: 1,
          session: session.id,
          heartbeat: this.options.heartbeat ?? 15_000,
          limits: this.options.limits ?? { maxMessageBytes: 1_048_576, maxRequestsInFlight: 16 },
        },
      });
    }
  }

  /** Sends an envelope to one socket (on a microtask). */
  send(socket: FakeSocket, envelope: unknown): void {
    if (this.silent) return;
    const text = typeof envelope === "string" ? envelope : JSON.stringify(envelope);
    queueMicrotask(() => socket.fireMessage(text));
  }

  /** Sends `$heartbeat` to every session. */
  heartbeat(): void {
    for (const socket of this.sessions.keys()) this.send(socket, { topic: "$heartbeat" });
  }

  /** Answers a request left without an answer ({@linkcode NO_REPLY}). */
  reply(socket: FakeSocket, id: number, data: unknown): void {
    this.send(socket, { topic: "$reply", id, data });
  }

  /**
   * Publishes to a room: the next seq (with history), kept in the window,
   * sent to every member.
   *
   * @returns The seq given (0 without history).
   */
  publish(room: string, topic: string, data: unknown, options: { skip?: boolean } = {}): number {
    // As the server of branch proto12: history (and room/seq) only for rooms a v1 client
    // joined; a publish to another room is a plain envelope.
    const state = (this.options.history ?? true) ? this.rooms.get(room) : undefined;
    const seq = state === undefined ? 0 : ++state.seq;
    const text = JSON.stringify(state === undefined ? { topic, data } : { topic, data, room, seq });
    if (state !== undefined) {
      state.log.push({ seq, text });
      if (state.log.length > (this.options.window ?? 256)) state.log.shift();
    }
    if (options.skip) return seq; // lost on the way (a gap for the members)
    for (const session of this.sessions.values()) {
      if (session.rooms.has(room)) this.send(session.socket, text);
    }
    return seq;
  }

  /** Closes every session with a close frame (`code`), as `shutdown` or `session.close` does. */
  closeAll(code = 1001, reason = "Server shutting down"): void {
    for (const socket of [...this.sessions.keys()]) this.#end(socket, code, reason);
  }

  /** Drops every connection without a close frame (1006). */
  dropAll(): void {
    this.closeAll(1006, "");
  }

  /** Starts a room's history, as a `$join` of another client would. */
  keep(room: string): void {
    this.#room(room);
  }

  /** Forgets every room's history: new epochs (a restart without shared history). */
  forgetHistory(): void {
    this.rooms.clear();
  }

  #end(socket: FakeSocket, code: number, reason: string): void {
    this.sessions.delete(socket);
    queueMicrotask(() => socket.fireClose(code, reason));
  }

  #room(room: string): _Room {
    let state = this.rooms.get(room);
    if (state === undefined) {
      this.rooms.set(room, state = { epoch: `e${++this.#epochs}`, seq: 0, log: [] });
    }
    return state;
  }

  #frame(socket: FakeSocket, text: string): void {
    const session = this.sessions.get(socket);
    if (session === undefined) return; // closed meanwhile
    const envelope = JSON.parse(text);
    this.received.push(envelope);
    const { topic, data, id } = envelope;
    if (topic === "$join") return this.#join(session, id, data);
    if (topic === "$leave") {
      const left = session.rooms.delete(data.room);
      return this.send(socket, { topic: "$reply", id, data: { room: data.room, left } });
    }
    const handler = id === undefined ? undefined : this.options.requests?.[topic];
    if (handler === undefined) return;
    try {
      const output = handler(data, session);
      if (output !== NO_REPLY) this.send(socket, { topic: "$reply", id, data: output });
    } catch (error) {
      const { code, message } = error as FakeRequestError;
      this.send(socket, { topic: "$reply", id, error: { code: code ?? "internal", message } });
    }
  }

  #join(
    session: FakeSession,
    id: number,
    data: { room: string; since?: { seq: number; epoch: string } },
  ): void {
    const verdict = (this.options.authorizeJoin ?? (() => true))(session, data.room);
    if (verdict !== true) {
      return this.send(session.socket, {
        topic: "$reply",
        id,
        error: { code: verdict, message: `Cannot join "${data.room}"` },
      });
    }
    const joined = !session.rooms.has(data.room);
    session.rooms.add(data.room);
    if (!(this.options.history ?? true)) {
      const answer: Record<string, unknown> = { room: data.room, joined };
      if (data.since !== undefined) Object.assign(answer, { recovered: false, reason: "epoch" });
      return this.send(session.socket, { topic: "$reply", id, data: answer });
    }
    const room = this.#room(data.room);
    const answer: Record<string, unknown> = {
      room: data.room,
      joined,
      seq: room.seq,
      epoch: room.epoch,
    };
    const since = data.since;
    if (since !== undefined) {
      if (since.epoch !== room.epoch || since.seq > room.seq) {
        Object.assign(answer, { recovered: false, reason: "epoch" });
      } else if (since.seq === room.seq) answer.recovered = true;
      else if ((room.log[0]?.seq ?? Infinity) > since.seq + 1) {
        Object.assign(answer, { recovered: false, reason: "gap" });
      } else {
        for (const entry of room.log) {
          if (entry.seq > since.seq) this.send(session.socket, entry.text);
        }
        answer.recovered = true;
      }
    }
    this.send(session.socket, { topic: "$reply", id, data: answer });
  }
}

/** A client on a fake server, with a fake clock, network and seeded random. */
export interface Rig<C> {
  readonly client: C;
  readonly server: FakeServer;
  readonly net: FakeNet;
  readonly clock: FakeTimers;
  readonly network: FakeNetwork;
  /** Runs the pending retry (ticks to it) and lets the network settle. */
  retry(): Promise<void>;
}

/**
 * Connects a client to a new fake server (heartbeat 0 unless given); time
 * moves only with `clock.tick`, the network with `settle()`.
 */
export function rig<
  In extends object = Record<string, unknown>,
  Out extends object = Record<string, unknown>,
  Req extends Record<string, { input: unknown; output: unknown }> = Record<
    string,
    { input: unknown; output: unknown }
  >,
>(
  options: ClientOptions<In, Out, Req> = {},
  serverOptions: FakeServerOptions = {},
): Rig<Client<In, Out, Req>> {
  const net = new FakeNet();
  // No heartbeat unless a test asks: time jumps of minutes would trip liveness.
  const server = new FakeServer(net, { heartbeat: 0, ...serverOptions });
  const clock = new FakeTimers();
  const network = new FakeNetwork();
  const client = connect("ws://fake.test/ws", {
    WebSocket: net.WebSocket,
    timers: clock,
    network,
    random: seeded(1),
    ...options,
  });
  let retryAt: number | undefined;
  client.events.on("reconnecting", ({ delay }) => retryAt = clock.now() + delay);
  client.events.on("connecting", () => retryAt = undefined);
  const retry = async () => {
    if (retryAt === undefined) throw new Error("No retry is waiting");
    clock.tick(Math.max(0, retryAt - clock.now()));
    await settle();
  };
  return { client, server, net, clock, network, retry };
}
