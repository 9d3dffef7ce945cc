/**
 * One run of `bench/cost.ts`: the CPU time the library itself spends on a
 * workload, in process, on sockets that discard what they are sent (no
 * kernel, no network). Runs on Deno and Bun.
 *
 * `deno run -A bench/cost_child.ts '{"root":".","workload":"fanout","socket":"direct","members":5000,"perRound":200,"rounds":40,"warmup":20}'`
 *
 * Prints one JSON line: `{ nsPerOp, ops, sends }` (`nsPerOp`: the median
 * over the measured rounds of the process's CPU time per delivery, or per message
 * for `echo`).
 *
 * @module
 */
import process from "node:process";
import type { Socket } from "../src/adapter.ts";
import { openBenchSession } from "./_open.ts";
import { median } from "./_stats.ts";

/** What one run measures. */
export interface CostSpec {
  /** The checkout whose `mod.ts` is measured. */
  root: string;
  /**
   * `fanout`: `perRound` publishes to `members` sessions in one tick.
   * `relay`: `perRound` inbound messages from one more session, each
   * published to the room except its sender, each in its own microtask
   * checkpoint (as a runtime dispatches them). `echo`: `perRound` inbound
   * messages to one session, each answered with `session.send`.
   */
  workload: "fanout" | "relay" | "echo";
  /** `direct` (Deno), `cork` (a socket with `cork`, as on Bun), `batch` (negotiated batch frames, with `cork`). */
  socket: "direct" | "cork" | "batch";
  members: number;
  perRound: number;
  /** Rounds measured. */
  rounds: number;
  /** Rounds run first and not measured (JIT tiers, the first GCs). */
  warmup: number;
}

const BATCH = "switchboard.batch";
const ROOM = "room";

// deno-lint-ignore no-explicit-any
type Any = any;

/** Opens a session on `socket`, through the doors the checkout has. */
async function open(server: Any, socket: Socket, protocol: string | undefined): Promise<Any> {
  if (typeof server.handshake !== "function") {
    // Before the redesign (00d714c) `open()` took the handshake's fields.
    return server.open(socket, { ctx: undefined, protocol }, { drains: true });
  }
  return (await openBenchSession(server, protocol, socket)).connection;
}

async function main(spec: CostSpec): Promise<void> {
  const { Server } = await import(new URL("mod.ts", `file://${spec.root}/`).href);
  let sends = 0;
  const socket = (): Socket => {
    const plain: Socket = { readyState: 1, bufferedAmount: 0, send: () => ++sends, close() {} };
    return spec.socket === "direct" ? plain : { ...plain, cork: (callback) => callback() };
  };
  const server = new Server({
    maxSessionsPerClient: Infinity,
    rateLimit: false,
    heartbeat: 0,
    onMessage(session: Any, message: Any) {
      if (message.topic === "echo") session.send("echo", message.data);
      else server.publish(ROOM, "relay", message.data, { except: session });
    },
  });
  const protocol = spec.socket === "batch" ? BATCH : undefined;
  const members = spec.workload === "echo" ? 0 : spec.members;
  for (let i = 0; i < members; i++) {
    (await open(server, socket(), protocol)).session.rooms.join(ROOM);
  }
  const sender = await open(server, socket(), undefined);
  const data = { from: "someone", text: "hello there, this is a chat message" };
  const text = JSON.stringify({ topic: spec.workload === "echo" ? "echo" : "relay", data });
  const macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));
  const perRound = spec.perRound * (spec.workload === "echo" ? 1 : members);
  const perOp: number[] = [];
  for (let round = 0; round < spec.warmup + spec.rounds; round++) {
    const before = process.cpuUsage();
    if (spec.workload === "fanout") {
      for (let i = 0; i < spec.perRound; i++) server.publish(ROOM, "tick", data);
    } else {
      for (let i = 0; i < spec.perRound; i++) {
        sender.message(text);
        await null; // the microtask checkpoint a runtime runs after each message
      }
    }
    await macrotask();
    const used = process.cpuUsage(before);
    if (round >= spec.warmup) perOp.push((used.user + used.system) * 1000 / perRound);
  }
  const ops = (spec.warmup + spec.rounds) * perRound;
  // Batch sockets get one frame a tick, not one a delivery.
  if (spec.socket !== "batch" && sends !== ops) {
    throw new Error(`Expected ${ops} sends, got ${sends}`);
  }
  if (sends === 0) throw new Error("Nothing was sent");
  console.log(JSON.stringify({ nsPerOp: median(perOp), ops, sends }));
}

await main(JSON.parse(process.argv[process.argv.length - 1]) as CostSpec);
