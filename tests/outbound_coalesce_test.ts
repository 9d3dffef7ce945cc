/**
 * Coalesced writes on the outbound side (`src/outbound.ts`, written at the
 * end of the tick by `src/scheduler.ts`): a session whose client negotiated
 * `BATCH_PROTOCOL` gets the text messages of one tick as one batch frame; a
 * socket that can cork (Bun) gets them written under one cork. Order, bounds
 * and counts are unchanged.
 */
import assert from "node:assert/strict";
import type { ServerOptions } from "../src/options.ts";
import { BATCH_PROTOCOL, decodeFrame } from "../src/protocol.ts";
import type { EventMap } from "../src/topics.ts";
import { endOfTick, FakeSocket, setup } from "./_fake_socket.ts";

/** Every envelope's data the socket got, batch frames unpacked, in order. */
function envelopes(socket: FakeSocket): unknown[] {
  return socket.sent.flatMap((frame) =>
    typeof frame === "string" ? decodeFrame(frame).map((e) => e.data) : [[...frame]]
  );
}

/** A socket that corks, like Bun's: it counts corks and the writes made inside one. */
class CorkSocket extends FakeSocket {
  corks = 0;
  writesInCork = 0;
  #corked = false;

  cork(callback: () => void): void {
    this.corks++;
    this.#corked = true;
    try {
      callback();
    } finally {
      this.#corked = false;
    }
  }

  override send(data: string | Uint8Array<ArrayBuffer>): number | void {
    if (this.#corked) this.writesInCork++;
    return super.send(data);
  }
}

Deno.test("A batch session gets the text messages of one tick as one frame", async () => {
  const { session, socket } = await setup().open({ protocol: BATCH_PROTOCOL });
  for (let i = 0; i < 5; i++) assert.equal(session.send("n", i), "sent");
  assert.equal(socket.sent.length, 0, "nothing is written before the tick ends");
  await endOfTick();
  assert.equal(socket.sent.length, 1);
  assert.equal(
    socket.sent[0],
    '[{"topic":"n","data":0},{"topic":"n","data":1},' +
      '{"topic":"n","data":2},{"topic":"n","data":3},{"topic":"n","data":4}]',
  );
  assert.equal(session.stats.messagesSent, 5);
});

Deno.test("The batch sessions of a room each get the tick's publishes, in order; one sent other frames gets its own", async () => {
  const rig = setup();
  const members = await Promise.all([0, 1, 2, 3].map(() => rig.open({ protocol: BATCH_PROTOCOL })));
  for (const { session } of members) session.rooms.join("room");
  const [sender] = members;
  for (let i = 0; i < 3; i++) rig.server.publish("room", "n", i);
  rig.server.publish("room", "n", 3, { except: sender.session });
  sender.session.send("n", 30); // as many frames as the others, not the same
  for (let i = 4; i < 6; i++) rig.server.publish("room", "n", i);
  await endOfTick();
  for (const [index, { socket }] of members.entries()) {
    assert.equal(socket.sent.length, 1, `member ${index}: one batch frame`);
    assert.deepEqual(envelopes(socket), index === 0 ? [0, 1, 2, 30, 4, 5] : [0, 1, 2, 3, 4, 5]);
  }
  // The next tick's frames are new texts, never the last tick's again.
  rig.server.publish("room", "n", 6);
  rig.server.publish("room", "n", 7);
  await endOfTick();
  for (const { socket } of members) assert.deepEqual(envelopes(socket).slice(-2), [6, 7]);
});

Deno.test("A batch of one message travels as a plain envelope", async () => {
  const { session, socket } = await setup().open({ protocol: BATCH_PROTOCOL });
  session.send("solo", true);
  await endOfTick();
  assert.deepEqual(socket.sent, ['{"topic":"solo","data":true}']);
});

Deno.test("A batch frame is cut at 16 KiB and order holds across frames", async () => {
  const { session, socket } = await setup().open({ protocol: BATCH_PROTOCOL });
  const pad = "x".repeat(1000);
  for (let i = 0; i < 40; i++) session.send("n", { i, pad });
  await endOfTick();
  assert.ok(socket.sent.length >= 3, `${socket.sent.length} frames`);
  for (const frame of socket.sent) assert.ok((frame as string).length <= 16 * 1024 + 1100);
  assert.deepEqual(envelopes(socket).map((d) => (d as { i: number }).i), [...Array(40).keys()]);
  assert.equal(session.stats.messagesSent, 40);
});

Deno.test("A binary message in a batch session keeps its place between text messages", async () => {
  const { session, socket } = await setup().open({ protocol: BATCH_PROTOCOL });
  session.send("n", 1);
  session.sendBinary(new Uint8Array([2]));
  session.send("n", 3);
  await endOfTick();
  assert.deepEqual(envelopes(socket), [1, [2], 3]);
});

Deno.test("Closing a batch session writes the tick's messages before the close frame", async () => {
  const { session, socket } = await setup().open({ protocol: BATCH_PROTOCOL });
  session.send("bye", "see you");
  const closed = session.close(4000, "done");
  assert.deepEqual(socket.sent, ['{"topic":"bye","data":"see you"}']);
  assert.equal(socket.closes.length, 1);
  socket.completeClose();
  assert.equal((await closed).code, 4000);
  assert.equal(session.stats.messagesDropped, 0);
});

Deno.test("A congested batch session queues, then drains its queue as batch frames", async () => {
  const { open } = setup({ highWaterMark: 100 });
  const { session, socket, connection } = await open({ protocol: BATCH_PROTOCOL });
  socket.bufferedAmount = 100;
  for (let i = 0; i < 10; i++) assert.equal(session.send("n", i), "queued");
  socket.bufferedAmount = 0;
  connection.drain();
  assert.equal(socket.sent.length, 1, "one batch frame for ten queued messages");
  assert.deepEqual(envelopes(socket), [...Array(10).keys()]);
  assert.equal(session.stats.messagesSent, 10);
  assert.equal(session.stats.queueLength, 0);
});

Deno.test("The tick's pending bytes count toward the high-water mark", async () => {
  const { open } = setup({ highWaterMark: 100 });
  const { session, socket } = await open({ protocol: BATCH_PROTOCOL });
  // Each message is 84 bytes: a frame goes out while buffered + pending < 100.
  assert.equal(session.send("n", "x".repeat(60)), "sent");
  assert.equal(session.send("n", "y".repeat(60)), "sent");
  assert.equal(session.send("n", "z".repeat(60)), "queued");
  // The two pending messages were written before anything queued: order holds.
  assert.deepEqual(envelopes(socket), ["x".repeat(60), "y".repeat(60)]);
  await endOfTick();
  assert.equal(session.stats.queueLength, 1);
});

Deno.test("A plain client of a server is never sent batch frames", async () => {
  const { session, socket } = await setup().open();
  session.send("a", 1);
  session.send("b", 2);
  assert.deepEqual(socket.sent, ['{"topic":"a","data":1}', '{"topic":"b","data":2}']);
  await endOfTick();
  assert.equal(socket.sent.length, 2);
});

Deno.test("A socket that corks gets the frames of one tick under one cork", async () => {
  const socket = new CorkSocket();
  const { session } = await setup().open({ socket });
  session.send("a", 1);
  session.sendBinary(new Uint8Array([2]));
  session.send("c", 3);
  assert.equal(socket.sent.length, 0);
  await endOfTick();
  assert.equal(socket.corks, 1);
  assert.equal(socket.writesInCork, 3);
  assert.deepEqual(envelopes(socket), [1, [2], 3]);
  assert.equal(session.stats.messagesSent, 3);
});

Deno.test("A corked frame the runtime refuses is counted as dropped", async () => {
  const { open, drops } = setup();
  const { session } = await open({ socket: new CorkSocket({ sendStatus: 0 }) });
  session.send("a", 1);
  session.send("b", 2);
  await endOfTick();
  assert.deepEqual(drops.map((drop) => drop.messages), [2]);
  assert.equal(session.stats.messagesDropped, 2);
  assert.equal(session.stats.messagesSent, 0);
});

Deno.test("publish() to batch sessions encodes once and each gets one frame per tick", async () => {
  const { server, open } = setup();
  const a = await open({ protocol: BATCH_PROTOCOL });
  const b = await open({ protocol: BATCH_PROTOCOL });
  a.session.rooms.join("r");
  b.session.rooms.join("r");
  let encodings = 0;
  for (let i = 0; i < 3; i++) {
    server.publish("r", "tick", { toJSON: () => (encodings++, i) } as unknown as number);
  }
  await endOfTick();
  assert.equal(encodings, 3);
  assert.equal(a.socket.sent.length, 1);
  assert.deepEqual(envelopes(a.socket), [0, 1, 2]);
  assert.deepEqual(envelopes(b.socket), [0, 1, 2]);
});

Deno.test("A reply from a hook to a corking socket is written at once, others at the tick's end", async () => {
  const { server, open } = setup({
    onMessage(session, message) {
      session.send("echo", message.data); // the runtime corks its own handler's sends
      for (const other of server.sessions.values()) {
        if (other !== session) other.send("seen", message.data);
      }
    },
  });
  const a = new CorkSocket();
  const b = new CorkSocket();
  const opened = await open({ socket: a });
  await open({ socket: b });
  opened.connection.message('{"topic":"say","data":7}');
  assert.deepEqual(envelopes(a), [7]);
  assert.equal(a.corks, 0);
  assert.equal(b.sent.length, 0);
  await endOfTick();
  assert.deepEqual(envelopes(b), [7]);
  assert.equal(b.corks, 1);
});

// ---------------------------------------------------------------- one write per event-loop turn

/** Resolves at the end of this event-loop turn, after the server's own turn end. */
function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A relay: every message to the server is published to the room but its sender. */
function relay(options: ServerOptions<undefined, EventMap, EventMap> = {}) {
  const { server, drops, open } = setup({
    onConnect: (session) => void session.rooms.join("room"),
    onMessage: (session, message) =>
      void server.publish("room", "relay", message.data, { except: session }),
    ...options,
  });
  return { server, drops, open };
}

/**
 * Hands the publisher `count` messages the way a runtime dispatches them in
 * one turn: one at a time, each handler and its microtasks done before the
 * next, all before the turn ends.
 */
async function dispatch(
  connection: { message(data: string): void },
  from: number,
  count: number,
): Promise<void> {
  for (let i = from; i < from + count; i++) {
    connection.message(JSON.stringify({ topic: "say", data: i }));
    await endOfTick();
  }
}

Deno.test("An idle server writes a lone relayed message at once, without waiting for the turn's end", async () => {
  const { open } = relay();
  const publisher = await open();
  const subscriber = await open({ socket: new CorkSocket() });
  publisher.connection.message('{"topic":"say","data":"alone"}');
  await endOfTick();
  assert.deepEqual(envelopes(subscriber.socket), ["alone"]);
});

Deno.test("Messages handled in one busy turn reach a corking subscriber under one cork, in order", async () => {
  const { open } = relay();
  const publisher = await open();
  const socket = new CorkSocket();
  await open({ socket });
  await dispatch(publisher.connection, 0, 10);
  // The first message found the server idle and went at once; the other
  // nine made the turn busy and wait for its end.
  assert.equal(socket.corks, 1);
  assert.deepEqual(envelopes(socket), [0]);
  await endOfTurn();
  assert.equal(socket.corks, 2, "the other nine under one cork");
  assert.equal(socket.writesInCork, 10);
  assert.deepEqual(envelopes(socket), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // The server stays busy while turns are: the next turn coalesces from its first message.
  await dispatch(publisher.connection, 10, 5);
  assert.equal(socket.corks, 2);
  await endOfTurn();
  assert.equal(socket.corks, 3, "the whole busy turn under one cork");
  assert.deepEqual(envelopes(socket).slice(10), [10, 11, 12, 13, 14]);
  // A quiet turn makes it idle again: a lone message goes at once.
  await endOfTurn();
  await dispatch(publisher.connection, 15, 1);
  await endOfTurn();
  await dispatch(publisher.connection, 16, 1);
  assert.deepEqual(envelopes(socket).slice(15), [15, 16]);
});

Deno.test("Messages handled in one busy turn reach a batch subscriber as one batch frame, nothing lost", async () => {
  const { open, server } = relay();
  const publisher = await open();
  const batch = await open({ protocol: BATCH_PROTOCOL });
  const plain = await open();
  await dispatch(publisher.connection, 0, 100);
  await endOfTurn();
  assert.equal(batch.socket.sent.length, 2, "the idle first message, then one frame for the rest");
  assert.deepEqual(decodeFrame(batch.socket.sent[1] as string).length, 99);
  assert.deepEqual(envelopes(batch.socket), [...Array(100).keys()]);
  assert.equal(plain.socket.sent.length, 100, "a plain socket that cannot cork gets each frame");
  assert.deepEqual(envelopes(plain.socket), [...Array(100).keys()]);
  assert.equal(batch.session.stats.messagesSent, 100);
  assert.equal(server.stats.messagesSent, 200);
  assert.equal(server.stats.messagesDropped, 0);
});

Deno.test("A busy turn's coalesced frames keep the queue bound and the overflow policy", async () => {
  const { open, drops } = relay({
    highWaterMark: 100,
    maxQueueMessages: 3,
    overflow: "drop-oldest",
  });
  const publisher = await open();
  const socket = new CorkSocket();
  const subscriber = await open({ socket });
  socket.onSend = () => void (socket.bufferedAmount += 40); // nobody reads
  await dispatch(publisher.connection, 0, 10);
  await endOfTurn();
  const sent = envelopes(socket) as number[];
  const stats = subscriber.session.stats;
  assert.equal(stats.messagesSent + stats.messagesDropped + stats.queueLength, 10, "all counted");
  assert.ok(stats.queueLength <= 3);
  assert.deepEqual(sent, [...sent].sort((a, b) => a - b), "in order");
  assert.equal(drops.reduce((n, d) => n + d.messages, 0), stats.messagesDropped);
});

Deno.test("The turns are watched only while a side that coalesces is open", async () => {
  let immediates = 0;
  const { open } = relay({
    timers: {
      setImmediate: (fn: () => void) => {
        immediates++;
        setImmediate(fn);
      },
    },
  });
  const publisher = await open();
  await open(); // plain subscribers, as on Deno: nothing to coalesce
  await dispatch(publisher.connection, 0, 3);
  await endOfTurn();
  assert.equal(immediates, 0, "no turn's end watched with plain sockets only");
  const batch = await open({ protocol: BATCH_PROTOCOL });
  await dispatch(publisher.connection, 3, 3);
  await endOfTurn();
  assert.ok(immediates >= 1, "a batch subscriber makes the turns watched");
  assert.deepEqual(envelopes(batch.socket), [3, 4, 5]);
  batch.session.close();
  await endOfTurn();
  const before = immediates;
  await dispatch(publisher.connection, 6, 3);
  await endOfTurn();
  assert.equal(immediates, before, "and only while it is open");
});
