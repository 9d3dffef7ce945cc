/**
 * Where the Bun executable is, for the tests and the benchmarks that start
 * Bun: always the binary itself, never a wrapper (`npx`, a version manager's
 * shim) that could leave it running when stopped.
 */
import { runChild } from "./_child.ts";

/** Ways to run Bun, in order of preference: installed, else from the npm registry. */
const _CANDIDATES: readonly (readonly string[])[] = [["bun"], ["npx", "-y", "bun@1"]];

/** How long a candidate may take: `npx` may first download Bun, some 40 MB. */
const _TIMEOUT_MS = 180_000;

/**
 * The path of the Bun executable: the one `bun` on `PATH` runs, else the one
 * `npx -y bun@1` runs (fetched into npm's cache the first time). Bun is asked
 * for its own `process.execPath`, so the path is the real binary's.
 *
 * @returns An absolute path.
 * @throws {Error} If neither way runs Bun: the Bun suites must run, never be
 * skipped.
 */
export async function bunBinary(): Promise<string> {
  for (const command of _CANDIDATES) {
    try {
      const { success, lines } = await runChild(
        [...command, "-e", "console.log(process.execPath)"],
        { timeoutMs: _TIMEOUT_MS },
      );
      const path = lines.at(-1)?.trim();
      if (success && path) return path;
    } catch {
      // not installed; try the next
    }
  }
  throw new Error(
    "Bun is not available: install it (`npm i -g bun@1`) or let `npx -y bun@1` fetch it",
  );
}
