/**
 * A child process that prints its address as its first line: the test
 * fixtures (`tests/_harness.ts`) and the servers and load client of the
 * benchmarks (`bench/_process.ts`) all start this way.
 *
 * Its stdout is read line by line for its whole life, so that it never
 * blocks on a full pipe; stderr goes to this process's.
 */

/** A child process spawned by {@linkcode spawnChild}. */
export interface Child {
  /** The process: its `pid` and `status`. */
  readonly process: Deno.ChildProcess;
  /** Every line the child printed to stdout so far (a last line without a newline too). */
  readonly lines: readonly string[];
  /** Resolves with the first line, or with `null` if stdout ended without one. */
  readonly first: Promise<string | null>;
  /** Resolves once stdout has ended (or {@linkcode Child.wait} stopped reading it). */
  readonly drained: Promise<void>;
  /** Sends a signal (`SIGKILL` if none is given); nothing if the child is gone. */
  kill(signal?: Deno.Signal): void;
  /**
   * Waits for the child to exit, then for its stdout to end: at most
   * `drainMs` (a process it started may hold stdout open), after which
   * stdout is no longer read.
   */
  wait(drainMs?: number): Promise<void>;
  /**
   * Sends `SIGTERM`, then `SIGKILL` if the child has not exited after
   * `graceMs`; then {@linkcode Child.wait}s, draining for at most `graceMs`.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `command` (the program, then its arguments) with no stdin, stdout
 * read here and stderr inherited.
 *
 * @param command The program and its arguments.
 * @returns The running child.
 */
export function spawnChild(command: readonly string[]): Child {
  const proc = new Deno.Command(command[0], {
    args: command.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  let resolveFirst!: (line: string | null) => void;
  const first = new Promise<string | null>((resolve) => resolveFirst = resolve);
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const drained = (async () => {
    let buffered = "";
    try {
      for (;;) {
        const { value: chunk, done } = await reader.read();
        if (done) break;
        buffered += chunk;
        let at;
        while ((at = buffered.indexOf("\n")) >= 0) {
          lines.push(buffered.slice(0, at));
          buffered = buffered.slice(at + 1);
          if (lines.length === 1) resolveFirst(lines[0]);
        }
      }
      if (buffered) lines.push(buffered);
    } catch {
      // the child was killed, or wait() stopped reading
    } finally {
      resolveFirst(lines[0] ?? null);
    }
  })();
  const kill = (signal: Deno.Signal = "SIGKILL") => {
    try {
      proc.kill(signal);
    } catch {
      // already gone
    }
  };
  const wait = async (drainMs = Infinity) => {
    await proc.status;
    if (drainMs !== Infinity && !await timeout(drained.then(() => true), drainMs, false)) {
      await reader.cancel();
    }
    await drained;
  };
  return {
    process: proc,
    lines,
    first,
    drained,
    kill,
    wait,
    async stop(graceMs = Infinity) {
      kill("SIGTERM");
      if (graceMs !== Infinity) {
        const exited = await timeout(proc.status.then(() => true), graceMs, false);
        if (!exited) kill("SIGKILL");
      }
      await wait(graceMs);
    },
  };
}

/**
 * Settles like `promise`, or resolves with `value` after `ms` if it has not
 * settled by then; the timer is cleared either way.
 *
 * @typeParam T What the promise resolves with.
 * @typeParam U What a timeout resolves with.
 * @param promise The promise to wait for.
 * @param ms How long to wait, in milliseconds.
 * @param value What to resolve with on a timeout.
 * @returns The promise's value, or `value`.
 */
export function timeout<T, U>(promise: Promise<T>, ms: number, value: U): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race<T | U>([
    promise,
    new Promise<U>((resolve) => timer = setTimeout(() => resolve(value), ms)),
  ]).finally(() => clearTimeout(timer));
}
