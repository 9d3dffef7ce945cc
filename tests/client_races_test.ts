/**
 * Exactly one live socket, ever: 1,000 seeded runs of random races
 * between `open`, `$hello`, `error`, `close` (of the current socket and of
 * older ones, alone or in a burst), `online` / `offline`, time jumps
 * (connect and heartbeat timeouts, retries), sends, requests, joins and
 * `close()`. After every step: at most one socket is live (made, and
 * neither closed by the client nor reported closed); none was ever made
 * while another was live; a closed client has none; a send only ever
 * reaches an open socket (the fake throws otherwise). At the end of each
 * run, every request settled exactly once and no timer or listener is left.
 */
import assert from "node:assert/strict";
import { connect } from "../client/client.ts";
import { FakeTimers } from "./_fake_socket.ts";
import { FakeNet, FakeNetwork, type FakeSocket, seeded } from "./_fake_ws.ts";

const RUNS = 1_000;
const STEPS = 60;

/** Lets queued microtasks (the fake's close events, params promises) run. */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 8; i++) await null;
}

async function run(seed: number): Promise<{ sockets: number; opened: number }> {
  const random = seeded(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const net = new FakeNet({ autoClose: random() < 0.8 });
  const clock = new FakeTimers();
  const network = new FakeNetwork();
  const asyncParams = random() < 0.3;
  const client = connect("ws://race.test/", {
    WebSocket: net.WebSocket,
    timers: clock,
    network,
    random: seeded(seed + 1),
    params: asyncParams ? () => Promise.resolve({ t: String(random()) }) : undefined,
    maxQueueMessages: 8,
    requestTimeout: 3_000,
    reconnect: { base: 50, cap: 1_000, maxFailedAttempts: Infinity },
  });
  client.on("x", () => {});
  const settled = new Map<number, number>();
  let requests = 0;
  let opened = 0;
  client.events.on("open", () => opened++);

  const check = (step: string) => {
    const where = `seed ${seed}, after ${step}`;
    assert.ok(net.live <= 1, `${where}: ${net.live} live sockets`);
    assert.equal(net.overlaps, 0, `${where}: a socket was made while another was live`);
    if (client.state === "closed") {
      assert.equal(net.live, 0, `${where}: closed client, live socket`);
    }
    if (client.state === "open") {
      const live = net.sockets.filter((s) => s.live);
      assert.equal(live.length, 1, `${where}: open without a live socket`);
      assert.equal(live[0].readyState, 1, `${where}: open on a socket not open`);
    }
  };

  const target = (): FakeSocket | undefined => {
    if (net.sockets.length === 0) return undefined;
    // Mostly the newest socket; sometimes an older one (stale events).
    return random() < 0.75 ? net.last : pick(net.sockets);
  };

  for (let step = 0; step < STEPS && client.state !== "closed"; step++) {
    const op = pick([
      "accept",
      "accept",
      "open",
      "hello",
      "hello",
      "error",
      "close",
      "burst",
      "online",
      "offline",
      "tick",
      "tick",
      "send",
      "request",
      "message",
      "join",
      "leave",
      "settle",
      "stop",
    ]);
    const socket = target();
    // An event of an older socket must change nothing: same state, and the
    // newest socket neither closed nor replaced.
    const stale = socket !== undefined && socket !== net.sockets.at(-1) && op !== "burst";
    const before = {
      state: client.state,
      sockets: net.sockets.length,
      closes: net.sockets.at(-1)?.closes.length,
    };
    switch (op) {
      case "accept": // the usual success: open, then $hello
        net.sockets.at(-1)?.fireOpen();
        net.sockets.at(-1)?.fireMessage({ topic: "$hello", data: { heartbeat: 1_000 } });
        break;
      case "open":
        socket?.fireOpen(random() < 0.9 ? "switchboard.v1" : "");
        break;
      case "hello":
        socket?.fireMessage({
          topic: "$hello",
          data: { session: `s${step}`, heartbeat: pick([0, 1_000, 15_000]), limits: {} },
        });
        break;
      case "error":
        socket?.fireError();
        break;
      case "close":
        socket?.fireClose(pick([1000, 1001, 1005, 1006, 1006, 1011, 4100]), "");
        break;
      case "burst": // error, close, online, and an old socket's close, in one turn
        socket?.fireError();
        socket?.fireClose(1006);
        network.fire("online");
        pick(net.sockets)?.fireClose(1006);
        break;
      case "online":
      case "offline":
        network.fire(op);
        break;
      case "tick":
        clock.tick(pick([1, 100, 499, 5_000, 16_000, 25_000]));
        break;
      case "send":
        client.send("x", step);
        break;
      case "request": {
        const n = requests++;
        settled.set(n, 0);
        client.request("r", step).then(
          () => settled.set(n, settled.get(n)! + 1),
          () => settled.set(n, settled.get(n)! + 1),
        );
        break;
      }
      case "message":
        socket?.fireMessage(pick([
          { topic: "x", data: 1 },
          { topic: "$reply", id: Math.floor(random() * requests) + 1, data: 1 },
          { topic: "x", data: 1, room: "r", seq: Math.floor(random() * 5) },
          "not json",
        ]));
        break;
      case "join":
        client.join(pick(["r", "s"])).catch(() => {});
        break;
      case "leave":
        client.leave(pick(["r", "s"])).catch(() => {});
        break;
      case "settle":
        await microtasks();
        break;
      case "stop":
        if (random() < 0.1) socket?.fireClose(4001, "banned");
        break;
    }
    check(`step ${step} (${op})`);
    if (stale && ["open", "hello", "error", "close", "message", "stop"].includes(op)) {
      const after = {
        state: client.state,
        sockets: net.sockets.length,
        closes: net.last.closes.length,
      };
      assert.deepEqual(
        after,
        before,
        `seed ${seed}, step ${step}: a stale ${op} changed the client`,
      );
    }
    await microtasks();
    check(`step ${step} (${op}), microtasks`);
  }

  const closing = client.close();
  await microtasks();
  clock.tick(5_000); // closeTimeout, for a socket that never reports its close
  await closing;
  await microtasks();
  check("close()");
  assert.equal(client.state, "closed");
  assert.equal(clock.pending, 0, `seed ${seed}: timers left after close()`);
  assert.equal(network.listeners, 0, `seed ${seed}: network listeners left`);
  for (const [n, count] of settled) {
    assert.equal(count, 1, `seed ${seed}: request ${n} settled ${count} times`);
  }
  return { sockets: net.sockets.length, opened };
}

Deno.test(`one live socket under ${RUNS} seeded runs of close/error/online/offline races`, async () => {
  let sockets = 0;
  let opened = 0;
  for (let seed = 1; seed <= RUNS; seed++) {
    const result = await run(seed);
    sockets += result.sockets;
    opened += result.opened;
  }
  // The runs really did race: many sockets, many of them opened (about 8,500 and 1,900).
  assert.ok(sockets > RUNS * 5, `only ${sockets} sockets`);
  assert.ok(opened > RUNS, `only ${opened} openings`);
});
