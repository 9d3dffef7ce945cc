/**
 * Micro-benchmarks of the core's hot paths, each against a plain baseline:
 * `deno task bench`.
 */
import { decodeEnvelope, encodeEnvelope, RingBuffer, Server } from "../mod.ts";
import type { Socket } from "../mod.ts";

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

function fanout(members: number) {
  const sockets: Socket[] = [];
  const server = new Server();
  for (let i = 0; i < members; i++) {
    const socket: Socket = { readyState: 1, bufferedAmount: 0, send() {}, close() {} };
    sockets.push(socket);
    server.open(socket, { ctx: undefined, protocol: undefined }, { drains: true }).session.rooms
      .join("room");
  }
  return { server, sockets };
}

for (const members of [1_000, 10_000]) {
  const { server, sockets } = fanout(members);
  const group = `publish to ${members} fake sockets`;
  Deno.bench({ group, name: "bare loop: stringify once, send to each", baseline: true }, () => {
    const frame = JSON.stringify({ topic: "chat", data: message });
    for (const socket of sockets) socket.send(frame);
  });
  Deno.bench({ group, name: "server.publish" }, () => {
    server.publish("room", "chat", message);
  });
}

{
  // Room join + leave for one session, against the bare Map<room, Set> the
  // index is built on.
  const server = new Server();
  const socket: Socket = { readyState: 1, bufferedAmount: 0, send() {}, close() {} };
  const { session } = server.open(socket, { ctx: undefined, protocol: undefined });
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
