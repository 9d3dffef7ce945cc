/**
 * What the end-to-end harnesses (`load.ts`, `soak.ts` and `fairness.ts`)
 * share: the child processes they start (a server under test from
 * `servers/`, the clients), pinned to a core with `taskset` where it exists
 * and all killed at the end, also on failure or Ctrl-C; a process's CPU
 * time; their command line; and the Markdown table they print.
 *
 * @module
 */
import { type Child, runChild, spawnChild, timeout } from "../tests/_child.ts";

// The harnesses find Bun and bound every wait as the tests do; one import for them.
export { bunBinary } from "../tests/_bun_binary.ts";
export { timeout };

/** A server under test: a script in `bench/servers/`. */
export interface ServerDef {
  /** The column's name. */
  readonly name: string;
  readonly runtime: "deno" | "bun";
  /** `bench/servers/<script>.ts`. */
  readonly script: string;
  /**
   * The root of the checkout whose `bench/servers/` holds the script, as an
   * absolute path; this checkout if unset. The script imports that
   * checkout's `mod.ts`.
   */
  readonly root?: string;
  /** Arguments after the script's path (`--limits=default`, say). */
  readonly args?: readonly string[];
}

/** A server under test, started and listening. */
export interface RunningServer {
  readonly port: number;
  /** On Linux, taskset execs the runtime: this is the server's pid. */
  readonly pid: number;
  /** `SIGTERM` to its group, then `SIGKILL` after 3 s; resolves once it exited. */
  stop(): Promise<void>;
}

const _children = new Set<Child>();

/**
 * Spawns a child that {@linkcode killAll} kills.
 *
 * @param command The program and its arguments.
 * @returns The running child.
 */
export function spawn(command: readonly string[]): Child {
  const child = spawnChild(command);
  _children.add(child);
  child.process.status.finally(() => _children.delete(child));
  return child;
}

/** Kills every child still running, and its process group, with `SIGKILL`. */
export function killAll(): void {
  for (const child of _children) child.kill();
  _children.clear();
}

/**
 * Runs a command (10 s at most) and returns its stdout, trimmed; `""` if it
 * cannot run.
 *
 * @param command The program.
 * @param args Its arguments.
 * @returns What it printed.
 */
export async function output(command: string, args: string[]): Promise<string> {
  try {
    const { lines } = await runChild([command, ...args], { stderr: "null" });
    return lines.join("\n").trim();
  } catch {
    return "";
  }
}

/**
 * Whether `taskset` exists and may pin to core 0.
 *
 * @returns `true` if it does.
 */
export async function hasTaskset(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["-c", "0", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/**
 * `command`, run through `taskset -c <core>` if `taskset` is true.
 *
 * @param taskset What {@linkcode hasTaskset} said.
 * @param core The core to pin to.
 * @param command The program and its arguments.
 * @returns The command to spawn.
 */
export function pinned(taskset: boolean, core: number, command: string[]): string[] {
  return taskset ? ["taskset", "-c", String(core), ...command] : command;
}

const _root = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");

/**
 * The path of a server's script.
 *
 * @param def The server.
 * @returns `<root>/bench/servers/<script>.ts`.
 */
export function serverScript(def: ServerDef): string {
  return `${def.root ?? _root}/bench/servers/${def.script}.ts`;
}

/** How {@linkcode startServer} starts a server. */
export interface StartServerOptions {
  /** What {@linkcode hasTaskset} said. */
  readonly taskset: boolean;
  /** The Bun executable ({@linkcode bunBinary}), for a Bun server. */
  readonly bun?: string;
}

/**
 * Starts a server under test fresh, pinned to core 0, and waits (15 s at
 * most) for its first line, `{"port":N}`.
 *
 * @param def The server.
 * @param options Whether to pin it, and the Bun executable.
 * @returns The running server.
 * @throws {Error} If it printed no port in time, it is stopped then; or if
 * it runs on Bun and no Bun executable is given.
 */
export async function startServer(
  def: ServerDef,
  options: StartServerOptions,
): Promise<RunningServer> {
  const script = serverScript(def);
  const args = def.args ?? [];
  let command;
  if (def.runtime === "deno") {
    command = [
      Deno.execPath(),
      "run",
      "--allow-net=127.0.0.1",
      "--v8-flags=--expose-gc",
      script,
      ...args,
    ];
  } else if (options.bun) {
    command = [options.bun, script, ...args];
  } else {
    throw new Error(`${def.name} runs on Bun, and no Bun executable was given`);
  }
  const child = spawn(pinned(options.taskset, 0, command));
  const stop = async () => {
    await child.stop(3000);
  };
  const line = await timeout(child.first, 15_000, null);
  let port: number | undefined;
  try {
    port = JSON.parse(line ?? "").port;
  } catch {
    // not JSON
  }
  if (typeof port !== "number") {
    await stop();
    throw new Error(`${def.name} did not print {"port":N} (got ${JSON.stringify(line)})`);
  }
  return { port, pid: child.process.pid, stop };
}

/** Clock ticks a second in `/proc/<pid>/stat` (`getconf CLK_TCK` on Linux). */
const _CLK_TCK = 100;

/**
 * The CPU time a process has used so far, from `/proc/<pid>/stat` (Linux;
 * Deno wants `--allow-read` for it).
 *
 * @param pid The process.
 * @returns Seconds in user and in system mode; `NaN`s if unknown.
 */
export function cpuSeconds(pid: number): [user: number, system: number] {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [Number(fields[11]) / _CLK_TCK, Number(fields[12]) / _CLK_TCK];
  } catch {
    return [NaN, NaN];
  }
}

/**
 * The resident set size of a process now, from `/proc/<pid>/status`
 * (Linux): read without a request to it, so reading it changes nothing.
 *
 * @param pid The process.
 * @returns Bytes; `NaN` if unknown.
 */
export function residentBytes(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024;
  } catch {
    return NaN;
  }
}

/**
 * The value of `--name=value` on the command line.
 *
 * @param name The flag's name.
 * @returns Its value, or `undefined` if it was not given.
 */
export function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

/**
 * A Markdown table.
 *
 * @param header The header cells.
 * @param rows The rows' cells.
 * @returns The table's lines.
 */
export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * Runs a harness's `main` and exits with the status it returns; every child
 * is killed at the end, and on `SIGINT` or `SIGTERM` (exit status 130).
 *
 * @param main The harness; resolves with the exit status.
 */
export async function runMain(main: () => Promise<number>): Promise<never> {
  const stop = () => {
    killAll();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let code = 1;
  try {
    code = await main();
  } finally {
    killAll();
  }
  Deno.exit(code);
}
