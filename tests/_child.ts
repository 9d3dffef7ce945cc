/**
 * A child process that prints its address as its first line: the test
 * fixtures (`tests/_harness.ts`) and the servers and load client of the
 * benchmarks (`bench/_process.ts`) all start this way.
 *
 * On Unix each child leads a process group (a session) of its own, and
 * every signal goes to the whole group: a wrapper such as `npx` cannot be
 * stopped while the program under it runs on.
 *
 * Its stdout is read line by line for its whole life, so that it never
 * blocks on a full pipe, and every wait on it is bounded; stderr goes to
 * this process's. Its stdin is a pipe that this process holds open and never
 * writes to, closed once the child exits: a child that reads it to its end
 * learns that this process is gone, even after a `SIGKILL`, or a Ctrl-C that
 * its own group does not receive.
 */

/** How long {@linkcode Child.wait} and {@linkcode Child.stop} wait by default, in milliseconds. */
const _GRACE_MS = 5000;

/** Whether children get a process group of their own (Unix: `setsid`). */
const _GROUPS = Deno.build.os !== "windows";

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
  /**
   * Resolves with the first line, printed already or yet to come, that
   * `match` accepts; with `undefined` if stdout ends or `ms` pass first.
   */
  line(match: (line: string) => boolean, ms: number): Promise<string | undefined>;
  /** Sends a signal (`SIGKILL` if none is given) to the child's group; nothing if it is gone. */
  kill(signal?: Deno.Signal): void;
  /**
   * Waits for the child to exit, then for its stdout to end: at most
   * `drainMs`, after which stdout is no longer read.
   *
   * @param drainMs How long stdout may stay open after the exit (5 s if not given).
   * @returns `true` if stdout ended, `false` if something the child started
   * still held it open.
   */
  wait(drainMs?: number): Promise<boolean>;
  /**
   * Sends `SIGTERM` to the child's group, then `SIGKILL` if the child has not
   * exited after `graceMs`, then `SIGKILL` to whatever is left in its group;
   * then {@linkcode Child.wait}s, draining for at most `graceMs`.
   *
   * @param graceMs How long the child may take to exit, and then its stdout to end
   * (5 s if not given).
   * @returns What {@linkcode Child.wait} returned.
   */
  stop(graceMs?: number): Promise<boolean>;
}

/** Options for {@linkcode spawnChild}. */
export interface SpawnChildOptions {
  /**
   * Where the child's stderr goes.
   *
   * @default {"inherit"}
   */
  stderr?: "inherit" | "null";
}

/**
 * Spawns `command` (the program, then its arguments) in a process group of
 * its own, with stdin a pipe held open until it exits, stdout read here and
 * stderr inherited.
 *
 * @param command The program and its arguments.
 * @param options Where stderr goes.
 * @returns The running child.
 * @throws {Deno.errors.NotFound} If the program does not exist.
 */
export function spawnChild(command: readonly string[], options: SpawnChildOptions = {}): Child {
  const proc = new Deno.Command(command[0], {
    args: command.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: options.stderr ?? "inherit",
    detached: _GROUPS,
  }).spawn();
  // The child needs its lifeline only while it runs.
  const exited = proc.status.then(() => proc.stdin.close()).catch(() => {});
  const lines: string[] = [];
  /** Waiters of `line()`, told of each new line; `null` when stdout ends. */
  const watchers = new Set<(line: string | null) => void>();
  const push = (line: string) => {
    lines.push(line);
    for (const watch of watchers) watch(line);
  };
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
          push(buffered.slice(0, at));
          buffered = buffered.slice(at + 1);
          if (lines.length === 1) resolveFirst(lines[0]);
        }
      }
      if (buffered) push(buffered);
    } catch {
      // the child was killed, or wait() stopped reading
    } finally {
      resolveFirst(lines[0] ?? null);
      for (const watch of watchers) watch(null);
    }
  })();
  const line = (match: (line: string) => boolean, ms: number) => {
    const found = lines.find(match);
    if (found !== undefined) return Promise.resolve(found);
    let watch!: (line: string | null) => void;
    const next = new Promise<string | undefined>((resolve) => {
      watch = (line) => {
        if (line === null) resolve(undefined);
        else if (match(line)) resolve(line);
      };
      watchers.add(watch);
    });
    return timeout(next, ms, undefined).finally(() => watchers.delete(watch));
  };
  const kill = (signal: Deno.Signal = "SIGKILL") => {
    try {
      Deno.kill(_GROUPS ? -proc.pid : proc.pid, signal);
    } catch {
      // already gone
    }
  };
  const wait = async (drainMs = _GRACE_MS) => {
    await exited;
    const ended = await timeout(drained.then(() => true), drainMs, false);
    if (!ended) await reader.cancel();
    await drained;
    return ended;
  };
  return {
    process: proc,
    lines,
    first,
    drained,
    line,
    kill,
    wait,
    async stop(graceMs = _GRACE_MS) {
      kill("SIGTERM");
      if (!await timeout(exited.then(() => true), graceMs, false)) kill("SIGKILL");
      await exited;
      kill("SIGKILL");
      return await wait(graceMs);
    },
  };
}

/** Options for {@linkcode runChild}. */
export interface RunChildOptions extends SpawnChildOptions {
  /**
   * How long the command may run before its group is killed, in milliseconds.
   *
   * @default {10000}
   */
  timeoutMs?: number;
}

/** What {@linkcode runChild} returns. */
export interface ChildOutput {
  /** Whether the command exited with status 0 in time. */
  readonly success: boolean;
  /** Every line it printed to stdout. */
  readonly lines: readonly string[];
}

/**
 * Runs `command` (the program, then its arguments) to its end, as
 * {@linkcode spawnChild} does, and collects its stdout; after `timeoutMs`
 * its group is stopped. Whatever it leaves behind in its group is killed.
 *
 * @param command The program and its arguments.
 * @param options The time limit and where stderr goes.
 * @returns Whether it succeeded, and its lines.
 * @throws {Deno.errors.NotFound} If the program does not exist.
 */
export async function runChild(
  command: readonly string[],
  options: RunChildOptions = {},
): Promise<ChildOutput> {
  const child = spawnChild(command, options);
  const status = await timeout(child.process.status, options.timeoutMs ?? 10_000, null);
  await child.stop(1000);
  return { success: status?.success ?? false, lines: child.lines };
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
