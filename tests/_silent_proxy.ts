/**
 * A TCP proxy for tests that can go silent: it forwards bytes both ways
 * between each accepted connection and a new connection to the target,
 * until {@linkcode SilentProxy.silence} makes the connections of that
 * moment a black hole, as a NAT or a load balancer that lost its state
 * does: nothing is forwarded any more, and nothing is closed (no FIN, no
 * RST), so neither end learns anything from TCP. Their bytes are still
 * read, and thrown away, so that no kernel buffer fills and stalls a
 * writer; an end of stream from one side is not passed on either.
 *
 * Connections accepted after `silence()` are forwarded normally: a client
 * that reconnects through the same proxy gets through.
 */

/** A proxy made by {@linkcode silentProxy}. */
export interface SilentProxy {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Stops forwarding on every connection open now, closing none; returns how many. */
  silence(): number;
  /** Stops listening and closes every connection, both sides; resolves once all are done. */
  close(): Promise<void>;
}

/** One proxied connection: the accepted side, the target side, and whether it went silent. */
class _Pair {
  silent = false;
  readonly pumps: Promise<void>[] = [];

  constructor(readonly client: Deno.Conn, readonly server: Deno.Conn) {}

  close(): void {
    for (const conn of [this.client, this.server]) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
  }
}

/**
 * Starts a proxy on 127.0.0.1, on a port the OS chooses, to `target`.
 *
 * @param target Where each connection is forwarded to.
 * @returns The proxy, listening.
 */
export function silentProxy(target: { hostname?: string; port: number }): SilentProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<_Pair>();
  let accepted = 0;
  let closed = false;
  const pending: Promise<void>[] = [];

  const open = async (client: Deno.Conn) => {
    let server: Deno.Conn;
    try {
      server = await Deno.connect({ hostname: target.hostname ?? "127.0.0.1", port: target.port });
    } catch {
      client.close();
      return;
    }
    if (closed) {
      client.close();
      server.close();
      return;
    }
    const pair = new _Pair(client, server);
    pairs.add(pair);
    pair.pumps.push(_pump(pair, client, server), _pump(pair, server, client));
    accepted++;
    await Promise.all(pair.pumps);
    pair.close();
    pairs.delete(pair);
  };

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // closed
      }
      pending.push(open(conn));
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    silence(): number {
      for (const pair of pairs) pair.silent = true;
      return pairs.size;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      listener.close();
      await accepting;
      for (const pair of pairs) pair.close();
      await Promise.all(pending);
    },
  };
}

/**
 * Copies `from` to `to` until either ends. Once the pair is silent it
 * reads and discards, and an end of stream or an error closes nothing:
 * only {@linkcode SilentProxy.close} does.
 */
async function _pump(pair: _Pair, from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    let n: number | null;
    try {
      n = await from.read(buffer);
    } catch {
      n = null;
    }
    if (n === null) {
      // Passed on (as a close of both sides) only while forwarding.
      if (!pair.silent) pair.close();
      return;
    }
    if (pair.silent) continue;
    try {
      let written = 0;
      while (written < n) written += await to.write(buffer.subarray(written, n));
    } catch {
      if (!pair.silent) pair.close();
      return;
    }
  }
}
