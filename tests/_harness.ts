/**
 * Test harness: runs a conformance fixture in a Deno or Bun subprocess,
 * and gives tests WebSocket clients that wait on events, never on sleeps.
 */
import { decodeFrame } from "../mod.ts";
import { bunBinary } from "./_bun_binary.ts";
import { spawnChild, timeout } from "./_child.ts";
import type { TestEvent } from "./fixtures/app.ts";

/** A runtime the conformance suite runs on. */
export type Runtime = "deno" | "bun";

/** A running fixture: one port per app, and its control endpoints. */
export interface Fixture {
  readonly runtime: Runtime;
  /** A `ws://` URL for an app, with a query. */
  ws(app: string, query?: string): string;
  /** An `http://` URL for an app, with a path and query. */
  http(app: string, path: string): string;
  /** GETs a control endpoint and parses its JSON. */
  ctl<T = unknown>(app: string, path: string): Promise<T>;
  /** Waits for a server-side event matching every field given. */
  event(app: string, match: Record<string, string | number>): Promise<TestEvent>;
  /**
   * Stops the subprocess and waits for it (a few seconds at most); throws if
   * something it started outlived it holding its stdout.
   */
  stop(): Promise<void>;
}

const _FIXTURES = new URL("./fixtures/", import.meta.url);

/** Starts the fixture server on a runtime and waits for its ports. */
export async function startFixture(runtime: Runtime): Promise<Fixture> {
  const command = runtime === "deno"
    ? [
      Deno.execPath(),
      "run",
      "--allow-net",
      "--v8-flags=--expose-gc",
      new URL("serve_deno.ts", _FIXTURES).pathname,
    ]
    : [await bunBinary(), new URL("serve_bun.ts", _FIXTURES).pathname];
  const child = spawnChild(command);
  // undefined: no line in time; null: stdout ended first.
  const first = await timeout(child.first, 30_000, undefined);
  if (first === undefined || first === null) {
    await child.stop(0);
    throw new Error(
      first === undefined
        ? `${runtime} fixture did not start in 30 s`
        : `${runtime} fixture exited before printing its ports`,
    );
  }
  const ports: Record<string, number> = JSON.parse(first).ports;
  const base = (app: string) => {
    const port = ports[app];
    if (port === undefined) throw new Error(`No app "${app}" in the fixture`);
    return `127.0.0.1:${port}`;
  };
  const fixture: Fixture = {
    runtime,
    ws: (app, query = "") => `ws://${base(app)}/${query ? "?" + query : ""}`,
    http: (app, path) => `http://${base(app)}${path}`,
    async ctl<T>(app: string, path: string): Promise<T> {
      const response = await fetch(fixture.http(app, path));
      const body = await response.text();
      if (!response.ok) throw new Error(`${path}: ${response.status} ${body}`);
      return JSON.parse(body) as T;
    },
    event(app, match) {
      const query = new URLSearchParams(
        Object.entries(match).map(([k, v]) => [k, String(v)]),
      );
      return fixture.ctl<TestEvent>(app, `/ctl/wait?${query}`);
    },
    async stop() {
      if (!await child.stop()) {
        throw new Error(`${runtime} fixture: stdout still open after it exited`);
      }
    },
  };
  return fixture;
}

/** One behaviour test of a conformance suite: it gets the running fixture. */
export type Case = (fx: Fixture) => Promise<void>;

/**
 * Registers a conformance suite: one `Deno.test` per runtime, each starting
 * the fixture on that runtime and running every case as a step, in order.
 *
 * @param name The suite's name, e.g. `"conformance"`.
 * @param cases The cases by name.
 */
export function runConformance(name: string, cases: Record<string, Case>): void {
  for (const runtime of ["deno", "bun"] satisfies Runtime[]) {
    Deno.test(`${name} on ${runtime}`, async (t) => {
      const fx = await startFixture(runtime);
      try {
        for (const [step, run] of Object.entries(cases)) {
          await t.step(step, () => run(fx));
        }
      } finally {
        await fx.stop();
      }
    });
  }
}

/**
 * What a client waits on: something arrived, or its deadline passed. A
 * client's reader calls {@linkcode Wakeup.wake} on every event, and its
 * waiting loop re-checks its condition after each {@linkcode Wakeup.sleep}.
 */
export class Wakeup {
  #wake: (() => void) | undefined;

  /** Ends the current {@linkcode Wakeup.sleep}, if one is under way. */
  wake(): void {
    this.#wake?.();
  }

  /**
   * Resolves at the next {@linkcode Wakeup.wake} or at `deadline`, whichever
   * comes first; the timer is cleared either way.
   *
   * @param deadline A `Date.now()` time.
   */
  async sleep(deadline: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, deadline - Date.now());
      });
    } finally {
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }
}

/** A received message: a parsed envelope for text, bytes for binary. */
export type Received =
  // deno-lint-ignore no-explicit-any
  | { topic: string; data: any }
  | { binary: Uint8Array };

/**
 * A WebSocket client that keeps every message it receives and lets a test
 * wait for the next one matching a predicate.
 */
export class Client {
  readonly socket: WebSocket;
  readonly received: Received[] = [];
  /** Frames received: fewer than messages when the server sends batch frames. */
  frames = 0;
  /** Resolves when the socket opened; rejects if it closed first. */
  readonly opened: Promise<void>;
  /** Resolves with the close event's code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  #cursor = 0;
  readonly #wakeup = new Wakeup();

  constructor(url: string, protocols?: string[]) {
    const socket = this.socket = new WebSocket(url, protocols);
    socket.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      socket.addEventListener("open", () => resolve());
      socket.addEventListener("close", () => reject(new Error("Closed before open")));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        resolve({ code: e.code, reason: e.reason });
        this.#wakeup.wake();
      });
    });
    socket.addEventListener("error", () => {});
    socket.addEventListener("message", (e) => {
      this.frames++;
      if (typeof e.data === "string") this.received.push(...decodeFrame(e.data));
      else this.received.push({ binary: new Uint8Array(e.data as ArrayBuffer) });
      this.#wakeup.wake();
    });
  }

  /** Opens a client and waits for its `welcome`. */
  static async connect(url: string, protocols?: string[]): Promise<Client> {
    const client = new Client(url, protocols);
    await client.opened;
    await client.next((m) => "topic" in m && m.topic === "welcome");
    return client;
  }

  /** Sends an envelope. */
  send(topic: string, data?: unknown): void {
    this.socket.send(JSON.stringify({ topic, data }));
  }

  /**
   * Returns the next message not yet taken (matching `match`, skipping the
   * rest); fails after `ms` or if the socket closes first.
   */
  async next(match: (m: Received) => boolean = () => true, ms = 10_000): Promise<Received> {
    const deadline = Date.now() + ms;
    while (true) {
      while (this.#cursor < this.received.length) {
        const m = this.received[this.#cursor++];
        if (match(m)) return m;
      }
      if (this.socket.readyState === WebSocket.CLOSED) {
        throw new Error("Socket closed while waiting for a message");
      }
      if (Date.now() >= deadline) throw new Error(`No matching message in ${ms} ms`);
      await this.#wakeup.sleep(deadline);
    }
  }

  /** The next message on `topic`; its data. */
  // deno-lint-ignore no-explicit-any
  async take(topic: string, ms?: number): Promise<any> {
    const m = await this.next((m) => "topic" in m && m.topic === topic, ms);
    return (m as { data: unknown }).data;
  }

  /** Closes (if open) and waits for the close event. */
  async close(code?: number, reason?: string): Promise<{ code: number; reason: string }> {
    if (this.socket.readyState <= WebSocket.OPEN) {
      await this.opened.catch(() => {});
      this.socket.close(code, reason);
    }
    return await this.closed;
  }
}

/**
 * A client that completes the WebSocket handshake over raw TCP and then
 * never reads: the slowest consumer there is.
 */
export class StuckClient {
  readonly #conn: Deno.TcpConn;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects, sends the upgrade, and reads only the 101 response. */
  static async connect(url: string): Promise<StuckClient> {
    const { hostname, port, pathname, search } = new URL(url);
    const conn = await Deno.connect({ hostname, port: Number(port) });
    const request = `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
      "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    await conn.write(new TextEncoder().encode(request));
    let head = "";
    const buffer = new Uint8Array(1); // byte by byte: read nothing past the head
    while (!head.endsWith("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`Handshake failed: ${head}`);
      head += String.fromCharCode(buffer[0]);
    }
    if (!head.startsWith("HTTP/1.1 101")) {
      conn.close();
      throw new Error(`Handshake refused: ${head.split("\r\n")[0]}`);
    }
    return new StuckClient(conn);
  }

  /** Drops the TCP connection without a close frame. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

/** Sends an upgrade request with `fetch` and returns status and body. */
export async function tryUpgrade(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url.replace(/^ws/, "http"), {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  return { status: response.status, body: await response.text() };
}

/**
 * Sends an upgrade request over raw TCP with the headers given (an `Origin`,
 * say, which neither `fetch` nor `WebSocket` lets a test set) and returns the
 * status of the response; the connection is then dropped.
 */
export async function rawUpgradeStatus(
  url: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const { hostname, port } = new URL(url);
  const lines = [
    `Host: ${headers.host ?? `${hostname}:${port}`}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    ...Object.entries(headers).filter(([k]) => k !== "host").map(([k, v]) => `${k}: ${v}`),
  ];
  return (await rawRequest(url, "GET", lines)).status;
}

/**
 * Sends a request head over raw TCP, its header lines exactly as given (a
 * header twice, or none of the usual ones), and returns the response's
 * status and head; the connection is then dropped.
 *
 * @param url The `ws://` or `http://` URL.
 * @param method The request method.
 * @param headerLines The header lines, `Name: value` each.
 * @returns The status and the response head's text.
 */
export async function rawRequest(
  url: string,
  method: string,
  headerLines: readonly string[],
): Promise<{ status: number; head: string }> {
  const { hostname, port, pathname, search } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const lines = [`${method} ${pathname}${search} HTTP/1.1`, ...headerLines];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    let head = "";
    const buffer = new Uint8Array(1024);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const status = Number(head.split(" ")[1]);
    if (!Number.isInteger(status)) throw new Error(`No HTTP status in ${JSON.stringify(head)}`);
    return { status, head: head.split("\r\n\r\n")[0] };
  } finally {
    conn.close();
  }
}
