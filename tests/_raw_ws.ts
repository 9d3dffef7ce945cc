/**
 * The client side of WebSocket over raw TCP (`Deno.connect`), for the
 * clients that must see or write the wire themselves: the fault suites
 * (`fault_load_test.ts`, `fault_protocol_test.ts`), the load client
 * (`bench/load_client.ts`) and the soak (`bench/soak.ts`). Each keeps its
 * own read loop and decides what a frame means; the handshake, the frame
 * header parsing and the masking are here.
 */

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();
/** The key every handshake here sends, and the accept value it must get back. */
const _KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const _ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/** Response heads longer than this fail the handshake. */
const _MAX_HEAD = 16384;

/** A TCP connection after the upgrade request was answered. */
export interface RawUpgrade {
  /** The connection; the caller closes it. */
  readonly conn: Deno.TcpConn;
  /** The response's status code. */
  readonly status: number;
  /** The response head, up to the blank line (excluded). */
  readonly head: string;
  /** Bytes received after the head: the start of the first frames. */
  readonly leftover: Uint8Array;
}

/** Options of {@linkcode upgradeRaw} and {@linkcode connectRaw}. */
export interface RawUpgradeOptions {
  /** A subprotocol to offer; the server must then accept it. */
  protocol?: string;
  /** Sets `TCP_NODELAY` on the connection. @default {false} */
  noDelay?: boolean;
  /** Aborting it before the response head arrived fails the handshake and closes the connection. */
  signal?: AbortSignal;
}

/**
 * Connects to a `ws://` URL over raw TCP, sends the upgrade request and
 * reads the response head, whatever its status. A 101 must carry the right
 * `Sec-WebSocket-Accept` and, if one was offered, the subprotocol.
 *
 * @param url The `ws://` URL.
 * @param options A subprotocol to offer; `TCP_NODELAY`; a signal to give up.
 * @returns The connection, the status, the head and the bytes after it.
 * @throws {Error} If the connection ends during the handshake, the head is
 * too long, or a 101 lacks the accept value or the subprotocol; the signal's
 * reason if it was aborted first. The connection is closed then.
 */
export async function upgradeRaw(
  url: string,
  options: RawUpgradeOptions = {},
): Promise<RawUpgrade> {
  const { protocol, noDelay = false, signal } = options;
  const { hostname, port, pathname, search } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port), signal });
  // Closing the connection ends a read that waits for a head that never comes.
  let closed = false;
  const abort = () => {
    closed = true;
    conn.close();
  };
  signal?.addEventListener("abort", abort, { once: true });
  try {
    signal?.throwIfAborted();
    if (noDelay) conn.setNoDelay(true);
    await writeAll(
      conn,
      _encoder.encode(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${_KEY}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocol === undefined ? "" : `Sec-WebSocket-Protocol: ${protocol}\r\n`) + "\r\n",
      ),
    );
    let bytes = new Uint8Array(0);
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("Connection closed during the handshake");
      const grown = new Uint8Array(bytes.length + n);
      grown.set(bytes);
      grown.set(buffer.subarray(0, n), bytes.length);
      bytes = grown;
      const end = _indexOfBlankLine(bytes);
      if (end < 0) {
        if (bytes.length > _MAX_HEAD) throw new Error("Response head too long");
        continue;
      }
      const head = _decoder.decode(bytes.subarray(0, end));
      const status = Number(head.slice(9, 12));
      if (status === 101 && !head.includes(_ACCEPT)) {
        throw new Error(`101 without the right Sec-WebSocket-Accept: ${head}`);
      }
      if (
        status === 101 && protocol !== undefined &&
        !new RegExp(`^sec-websocket-protocol: *${protocol}\\r?$`, "im").test(head)
      ) {
        throw new Error(`Subprotocol "${protocol}" not accepted: ${head}`);
      }
      signal?.removeEventListener("abort", abort);
      return { conn, status, head, leftover: bytes.slice(end + 4) };
    }
  } catch (error) {
    signal?.removeEventListener("abort", abort);
    if (!closed) conn.close();
    throw signal?.aborted ? signal.reason : error;
  }
}

/**
 * {@linkcode upgradeRaw}, for a client that needs the upgrade.
 *
 * @param url The `ws://` URL.
 * @param options A subprotocol to offer; `TCP_NODELAY`.
 * @returns The upgraded connection and the bytes after the head.
 * @throws {Error} As {@linkcode upgradeRaw} does, and `Handshake refused:
 * <status line>` if the status is not 101; the connection is closed then.
 */
export async function connectRaw(
  url: string,
  options: RawUpgradeOptions = {},
): Promise<RawUpgrade> {
  const upgrade = await upgradeRaw(url, options);
  if (upgrade.status !== 101) {
    upgrade.conn.close();
    throw new Error(`Handshake refused: ${upgrade.head.split("\r\n")[0]}`);
  }
  return upgrade;
}

function _indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/**
 * Called for each whole frame: its header bits, and where its payload
 * stands in `data` (`data.subarray(start, stop)`, as sent: a masked
 * payload is not unmasked). `data` is reused after the call returns: copy
 * what must outlive it.
 */
export type FrameHandler = (
  opcode: number,
  fin: boolean,
  masked: boolean,
  data: Uint8Array,
  start: number,
  stop: number,
) => void;

/**
 * Splits a byte stream into WebSocket frames: bytes go in as they are
 * read, whole frames come out through the handler, and a frame cut between
 * two reads is carried over to the next.
 */
export class FrameParser {
  readonly #onFrame: FrameHandler;
  #carry: Uint8Array | undefined;

  /** @param onFrame Called for each whole frame, in order. */
  constructor(onFrame: FrameHandler) {
    this.#onFrame = onFrame;
  }

  /**
   * Parses `chunk.subarray(0, length)` after what was carried over.
   *
   * @param chunk The bytes read (the buffer may be reused afterwards).
   * @param length How many of them were read.
   */
  push(chunk: Uint8Array, length: number = chunk.length): void {
    let data = chunk;
    let end = length;
    const carry = this.#carry;
    if (carry !== undefined) {
      data = new Uint8Array(carry.length + length);
      data.set(carry);
      data.set(chunk.subarray(0, length), carry.length);
      end = data.length;
      this.#carry = undefined;
    }
    let at = 0;
    while (at + 2 <= end) {
      const b0 = data[at], b1 = data[at + 1];
      let size = b1 & 0x7f;
      let header = 2;
      if (size === 126) {
        if (at + 4 > end) break;
        size = (data[at + 2] << 8) | data[at + 3];
        header = 4;
      } else if (size === 127) {
        if (at + 10 > end) break;
        size = Number(new DataView(data.buffer, data.byteOffset + at + 2, 8).getBigUint64(0));
        header = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) header += 4;
      const start = at + header;
      const stop = start + size;
      if (stop > end) break;
      this.#onFrame(b0 & 0x0f, (b0 & 0x80) !== 0, masked, data, start, stop);
      at = stop;
    }
    if (at < end) this.#carry = data.slice(at, end);
  }
}

/**
 * A client frame: FIN set, masked with a random key, the length in the
 * shortest form.
 *
 * @param payload The payload.
 * @param opcode The opcode (`0x1` text, `0x2` binary, `0xA` pong, …).
 * @returns The frame's bytes.
 */
export function maskFrame(payload: Uint8Array, opcode: number): Uint8Array {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + length);
  frame[0] = 0x80 | opcode;
  if (header === 2) {
    frame[1] = 0x80 | length;
  } else if (header === 4) {
    frame[1] = 0x80 | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  // Math.random, not crypto: the load client masks every frame it sends.
  const key = (Math.random() * 2 ** 32) >>> 0;
  const mask = [key >>> 24, (key >>> 16) & 0xff, (key >>> 8) & 0xff, key & 0xff];
  frame.set(mask, header);
  const at = header + 4;
  for (let i = 0; i < length; i++) frame[at + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/**
 * Writes all of `bytes` (`conn.write` may take fewer).
 *
 * @param conn The connection.
 * @param bytes What to write.
 */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}
