/**
 * Micro-benchmarks of the core's hot paths, each against a plain baseline:
 * `deno task bench`.
 */
import { decodeEnvelope, encodeEnvelope, Server, type Session } from "../mod.ts";
import type { Connection, Socket } from "../src/adapter.ts";
import { RingBuffer } from "../src/ring_buffer.ts";
import { openBenchSession } from "./_open.ts";

const N = 1024;
const ring = new RingBuffer<number>(N);
const array: number[] = [];

Deno.bench({ group: "queue push+shift x1024", name: "Array", baseline: true }, () => {
  for (let i = 0; i < N; i++) array.push(i);
  for (let i = 0; i < N; i++) array.shift();
});
Deno.bench({ group: "queue push+shift x1024", name: "RingBuffer" }, () => {
  for (let i = 0; i < N; i++) ring.push(i);
  for (let i = 0; i < N; i++) ring.shift();
});

const message = { user: "ada", text: "hello there, this is a 64-byte-ish chat line" };
const text = encodeEnvelope("chat", message);

Deno.bench({ group: "envelope", name: "JSON.stringify", baseline: true }, () => {
  JSON.stringify({ topic: "chat", data: message });
});
Deno.bench({ group: "envelope", name: "encodeEnvelope" }, () => {
  encodeEnvelope("chat", message);
});
Deno.bench({ group: "envelope decode", name: "JSON.parse", baseline: true }, () => {
  JSON.parse(text);
});
Deno.bench({ group: "envelope decode", name: "decodeEnvelope" }, () => {
  decodeEnvelope(text);
});

/** A session through the server's doors, on a discarding socket. */
async function open(
  server: Server,
  protocol?: string,
): Promise<{ socket: Socket; session: Session; connection: Connection }> {
  const { socket, connection } = await openBenchSession(server, protocol);
  return { socket, session: connection.session as Session, connection };
}

/**
 * A room of `members` sessions. `kept`: one of them is a v1 session that
 * joined with `$join`, so the room's messages get `seq` and are kept in
 * the history (256 a room: every publish then evicts one).
 */
async function fanout(members: number, kept = false) {
  const sockets: Socket[] = [];
  const server = new Server({
    maxSessionsPerClient: Infinity,
    heartbeat: 0,
    authorizeJoin: () => true,
  });
  for (let i = 0; i < members; i++) {
    const v1 = kept && i === 0;
    const { socket, session, connection } = await open(server, v1 ? "switchboard.v1" : undefined);
    sockets.push(socket);
    if (v1) connection.message('{"topic":"$join","id":1,"data":{"room":"room"}}');
    else session.rooms.join("room");
  }
  return { server, sockets };
}

for (const members of [1_000, 10_000]) {
  const { server, sockets } = await fanout(members);
  const group = `publish to ${members} fake sockets`;
  Deno.bench({ group, name: "bare loop: stringify once, send to each", baseline: true }, () => {
    const frame = JSON.stringify({ topic: "chat", data: message });
    for (const socket of sockets) socket.send(frame);
  });
  Deno.bench({ group, name: "server.publish" }, () => {
    server.publish("room", "chat", message);
  });
  const kept = await fanout(members, true);
  Deno.bench({ group, name: "server.publish, a room kept for v1 (seq, history)" }, () => {
    kept.server.publish("room", "chat", message);
  });
}

{
  // Room join + leave for one session, against the bare Map<room, Set> the
  // index is built on.
  const { session } = await open(new Server());
  const bare = new Map<string, Set<unknown>>();
  const member = {};
  Deno.bench({ group: "room join+leave", name: "bare Map<room, Set>", baseline: true }, () => {
    let set = bare.get("lobby");
    if (set === undefined) bare.set("lobby", set = new Set());
    set.add(member);
    set.delete(member);
    if (set.size === 0) bare.delete("lobby");
  });
  Deno.bench({ group: "room join+leave", name: "session.rooms.join + leave" }, () => {
    session.rooms.join("lobby");
    session.rooms.leave("lobby");
  });
}
