/**
 * The Bun adapter's record of one connection (Bun's `ws.data`), which is
 * also the session's {@linkcode Socket}: see `bun.ts`.
 *
 * @module
 */
import type { AdapterServer, Connection, Handshake, Socket } from "../adapter.ts";
import type { CloseCause } from "../session.ts";
import { IDLE_CODE, IDLE_REASON, type Watched } from "./_idle_watch.ts";

/** The part of Bun's `ServerWebSocket` the adapter uses. */
export interface BunServerWebSocket {
  /** What `server.upgrade()` stored; the adapter's own record. */
  readonly data: unknown;
  /** 1 open, 3 closed: Bun reports its closes synchronously. */
  readonly readyState: number;
  /** How binary messages arrive; the adapter sets `"uint8array"`. */
  binaryType?: string;
  /**
   * Sends a text (string) or binary frame.
   *
   * @param data The message.
   * @returns The bytes written, -1 if queued, 0 if dropped.
   */
  send(data: string | Uint8Array<ArrayBuffer>): number;
  /**
   * Closes the socket; Bun calls the `close` handler before returning.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  close(code?: number, reason?: string): void;
  /**
   * Runs `callback` with the socket corked: its sends are written together.
   *
   * @param callback The sends.
   * @returns What `callback` returns.
   */
  cork<T>(callback: (ws: BunServerWebSocket) => T): T;
  /**
   * Bytes waiting in Bun's buffer.
   *
   * @returns The byte count.
   */
  getBufferedAmount(): number;
  /** Sends a ping frame; returns as `send` does. */
  ping(): number;
}

/** Bun's close reasons (with code 1006) for closes it decided itself. */
const _TOO_BIG = "Received too big message";
const _TIMED_OUT = "WebSocket timed out from inactivity";

/** Bun reports drains, and its buffer grows only by what is sent (one object for every open). */
const _OPEN_OPTIONS = Object.freeze({ drains: true, sendsOnly: true });

/** A close Bun reported while `server.open()` was still running. */
class _EarlyClose {
  readonly code: number;
  readonly reason: string;

  constructor(code: number, reason: string) {
    this.code = code;
    this.reason = reason;
  }
}

/**
 * The one per-connection object: Bun's `ws.data` and the session's
 * {@linkcode Socket} at once: the socket, the connection, the handshake
 * (replaced by an early close, if any, while opening), and what the idle
 * timeout keeps of it. Six fields: Bun's heap gives an object of up to six
 * 64 bytes, of seven or eight 80.
 */
export class BunLink<Ctx> implements Socket, Watched {
  #ws!: BunServerWebSocket;
  #pending: Handshake<Ctx> | _EarlyClose | undefined;
  connection: Connection<Ctx> | undefined;
  /** Walks of the idle watch since the last inbound frame. */
  quiet = 0;
  /** Its place in the idle watch. */
  slot = -1;
  /** Closed by the idle timeout. */
  #expired = false;

  constructor(handshake: Handshake<Ctx>) {
    this.#pending = handshake;
  }

  get readyState(): number {
    return this.#ws.readyState;
  }

  get bufferedAmount(): number {
    return this.#ws.getBufferedAmount();
  }

  send(data: string | Uint8Array<ArrayBuffer>): number {
    const status = this.#ws.send(data);
    // Bun returns the payload's byte count, so 0 for an empty message that
    // was sent. The session only sends below `backpressureLimit`, so on an
    // open socket a 0 for an empty message is not a drop.
    return status === 0 && data.length === 0 && this.#ws.readyState === 1 ? 1 : status;
  }

  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }

  cork(callback: () => void): void {
    this.#ws.cork(callback);
  }

  ping(): void {
    this.#ws.ping();
  }

  expire(): void {
    this.#expired = true;
    this.#ws.close(IDLE_CODE, IDLE_REASON);
  }

  open(ws: BunServerWebSocket, server: AdapterServer<Ctx>): void {
    this.#ws = ws;
    ws.binaryType = "uint8array";
    const handshake = this.#pending as Handshake<Ctx>;
    this.#pending = undefined;
    // `onConnect`, or a shutdown under way, may close the socket inside
    // `server.open()`; Bun then calls `closed()` before `connection` is set.
    const connection = server.open(this, handshake, _OPEN_OPTIONS);
    const early = this.#pending as _EarlyClose | undefined;
    if (early === undefined) {
      this.connection = connection;
    } else {
      this.#pending = undefined;
      connection.close(early.code, early.reason, _kind(early.code, early.reason));
    }
  }

  closed(code: number, reason: string): void {
    const connection = this.connection;
    if (connection === undefined) {
      this.#pending = new _EarlyClose(code, reason);
      return;
    }
    this.connection = undefined;
    connection.close(code, reason, this.#expired ? "timeout" : _kind(code, reason));
  }
}

/** Tells why Bun closed a socket itself; `undefined` for an ordinary close. */
function _kind(code: number, reason: string): CloseCause["kind"] | undefined {
  if (code !== 1006) return undefined;
  if (reason === _TOO_BIG) return "too-large";
  if (reason === _TIMED_OUT) return "timeout";
  return "error";
}
