/**
 * Test fixtures for the client: a fake browser `WebSocket` whose events
 * the test fires (or a fake server fires), a network that records every
 * socket made, a seeded random, a fake `online`/`offline` source, and a
 * helper that lets queued microtasks and macrotasks run.
 */
import type { ClientSocket, NetworkEvents } from "../client/options.ts";

/** Lets every queued microtask (and the ones they queue) run: one real macrotask turn. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A seeded random in [0, 1) (mulberry32): the same seed, the same numbers. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fake `online` / `offline` event source. */
export class FakeNetwork implements NetworkEvents {
  onLine = true;
  readonly #listeners = { online: new Set<() => void>(), offline: new Set<() => void>() };

  addEventListener(type: "online" | "offline", listener: () => void): void {
    this.#listeners[type].add(listener);
  }

  removeEventListener(type: "online" | "offline", listener: () => void): void {
    this.#listeners[type].delete(listener);
  }

  /** Listeners still registered. */
  get listeners(): number {
    return this.#listeners.online.size + this.#listeners.offline.size;
  }

  /** Goes online or offline and fires the event. */
  fire(type: "online" | "offline"): void {
    this.onLine = type === "online";
    for (const listener of [...this.#listeners[type]]) listener();
  }
}

/** One fake client socket: records what the client does; the test or a server fires its events. */
export class FakeSocket implements ClientSocket {
  readyState = 0;
  protocol = "";
  binaryType = "blob";
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** Frames the client sent. */
  readonly sent: string[] = [];
  /** The client's close() calls. */
  readonly closes: { code?: number; reason?: string }[] = [];
  /** The close event fired. */
  closeFired = false;
  /** Requests sent and not yet answered, as the client sees them; and the most at once. */
  inFlight = 0;
  maxInFlight = 0;
  readonly url: string;
  readonly protocols: string[];
  readonly #net: FakeNet;

  constructor(net: FakeNet, url: string, protocols: string[]) {
    this.#net = net;
    this.url = url;
    this.protocols = protocols;
  }

  /** Live: made, and neither closed by the client nor reported closed. */
  get live(): boolean {
    return this.closes.length === 0 && !this.closeFired;
  }

  /** The query parameters of its URL. */
  get params(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  /** The frames sent, parsed. */
  // deno-lint-ignore no-explicit-any
  get frames(): any[] {
    return this.sent.map((text) => JSON.parse(text));
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error(`send() in readyState ${this.readyState}`);
    this.sent.push(data);
    if (JSON.parse(data).id !== undefined) {
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    }
    this.#net.onSend?.(this, data);
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException("Invalid code", "InvalidAccessError");
    }
    this.closes.push({ code, reason });
    if (this.readyState >= 2) return;
    this.readyState = 2;
    if (this.#net.autoClose) queueMicrotask(() => this.fireClose(code ?? 1005, reason ?? ""));
  }

  /** The upgrade succeeded: `open`, with the subprotocol chosen. */
  fireOpen(protocol = "switchboard.v1"): void {
    if (this.readyState !== 0) return;
    this.readyState = 1;
    this.protocol = protocol;
    this.onopen?.({});
  }

  /** A text (or binary) frame from the server. */
  fireMessage(data: unknown): void {
    if (this.readyState !== 1) return;
    if (typeof data === "string" && data.startsWith('{"topic":"$reply"')) this.inFlight--;
    this.onmessage?.({
      data: typeof data === "string" || data instanceof ArrayBuffer ? data : JSON.stringify(data),
    });
  }

  /** An `error` event (browsers fire one before a 1006 close). */
  fireError(): void {
    this.onerror?.({});
  }

  /** The `close` event; once. */
  fireClose(code = 1006, reason = ""): void {
    if (this.closeFired) return;
    this.closeFired = true;
    this.readyState = 3;
    this.#net.onClose?.(this);
    this.onclose?.({ code, reason });
  }

  /** A refused upgrade as a browser reports it: `error`, then `close` 1006, never `open`. */
  refuse(): void {
    this.fireError();
    this.fireClose(1006, "");
  }
}

/** Every socket made through its `WebSocket`; counts when one was made while another was live. */
export class FakeNet {
  readonly sockets: FakeSocket[] = [];
  /** Sockets made while an earlier one was still live: must stay 0. */
  overlaps = 0;
  /** Fire `close` on a microtask after the client's `close()`. */
  autoClose: boolean;
  /** Called for each socket made. */
  onSocket?: (socket: FakeSocket) => void;
  /** Called when a socket's `close` event fires. */
  onClose?: (socket: FakeSocket) => void;
  /** Called for each frame a client sends. */
  onSend?: (socket: FakeSocket, data: string) => void;
  /** The constructor to pass as the client's `WebSocket` option. */
  readonly WebSocket: new (url: string, protocols?: string | string[]) => FakeSocket;

  constructor(options: { autoClose?: boolean } = {}) {
    this.autoClose = options.autoClose ?? true;
    // deno-lint-ignore no-this-alias
    const net = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(net, url, protocols === undefined ? [] : [protocols].flat());
        if (net.sockets.some((s) => s.live)) net.overlaps++;
        net.sockets.push(this);
        net.onSocket?.(this);
      }
    };
  }

  /** The last socket made. */
  get last(): FakeSocket {
    const socket = this.sockets.at(-1);
    if (socket === undefined) throw new Error("No socket yet");
    return socket;
  }

  /** Sockets live now. */
  get live(): number {
    return this.sockets.filter((s) => s.live).length;
  }
}
