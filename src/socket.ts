/**
 * The one structural interface a runtime adapter fills for each connection.
 * A standard server-side `WebSocket` (Deno's) already is one; the Bun
 * adapter wraps Bun's `ServerWebSocket` in one.
 *
 * @example A fake socket for tests
 * ```ts
 * import type { Socket } from "@switchboard/ws/adapter";
 *
 * const sent: (string | Uint8Array)[] = [];
 * const socket: Socket = {
 *   readyState: 1,
 *   bufferedAmount: 0,
 *   send(data) {
 *     sent.push(data);
 *   },
 *   close() {},
 * };
 * ```
 */
export interface Socket {
  /** 0 connecting, 1 open, 2 closing, 3 closed, as `WebSocket.readyState`. */
  readonly readyState: number;
  /** Bytes handed to `send` that the runtime has not written to the network yet. */
  readonly bufferedAmount: number;
  /**
   * Sends one frame: a string as a text frame, bytes as a binary frame.
   * A returned `0` means the runtime dropped the frame (Bun's send status);
   * any other value, or none, means it took it.
   */
  send(data: string | Uint8Array<ArrayBuffer>): number | void;
  /** Starts the closing handshake with a close code and reason. */
  close(code?: number, reason?: string): void;
  /**
   * Runs `callback`, holding its sends back and writing them together
   * (Bun's `ws.cork`). A socket that has it gets its frames of each tick
   * written at the tick's end, under one cork.
   */
  cork?(callback: () => void): void;
}

/** What the adapter says of a socket (`OpenOptions`, defaults applied). */
export interface SocketTraits {
  /** The adapter reports drains; else the scheduler polls. */
  readonly drains: boolean;
  /** The socket's buffer grows only by what is sent. */
  readonly sendsOnly: boolean;
}
