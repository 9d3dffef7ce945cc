/**
 * Opens a session for the micro-benchmarks through the server's own doors
 * (`handshake()` then `open()`), on a socket that discards what it is sent.
 */
import type { AdapterServer, Connection, Socket } from "../src/adapter.ts";

/**
 * Opens a session on a discarding socket, or on `socket`.
 *
 * @param server The server.
 * @param protocol A subprotocol the client offers, if any.
 * @param socket The socket, if not a discarding one.
 * @returns The socket and the connection (its `session` is the session).
 */
export async function openBenchSession<Ctx>(
  server: AdapterServer<Ctx>,
  protocol?: string,
  socket: Socket = { readyState: 1, bufferedAmount: 0, send() {}, close() {} },
): Promise<{ socket: Socket; connection: Connection<Ctx> }> {
  const request = new Request("http://127.0.0.1/", {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      ...(protocol === undefined ? {} : { "sec-websocket-protocol": protocol }),
    },
  });
  const handshake = await server.handshake(request, { remoteAddr: { hostname: "127.0.0.1" } });
  if (handshake instanceof Response) throw new Error(`Refused: ${handshake.status}`);
  return { socket, connection: server.open(socket, handshake, { drains: true }) };
}
