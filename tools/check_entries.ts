/**
 * Checks the published entries' module graphs: only local files (zero
 * dependencies), no import cycle (type-only imports count), the Bun entry
 * never loads the Deno bridge, and only the `./deno` entry loads
 * `serve_deno.ts`; and that no source file outgrew its
 * room (400 lines). `deno run -A tools/check_entries.ts`; exits 1 on a fault.
 */

const ENTRIES = [
  "mod.ts",
  "src/adapters/bun.ts",
  "src/adapter.ts",
  "src/serve_deno.ts",
  "client/mod.ts",
];
const MAX_LINES = 400;
/** The only files outside client/ that the client entry may load: they import no server module. */
const CLIENT_SHARED = ["src/contract.ts", "src/standard_schema.ts", "src/forbidden_keys.ts"];
/** `Deno.` or `Bun.` used as code (not in a comment's backticks): a browser has neither. */
const _RUNTIME_GLOBAL = /^(?!\s*(\*|\/\/)).*\b(Deno|Bun)\.[a-z]/m;

interface Info {
  roots: string[];
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
  }[];
}

const faults: string[] = [];
const root = new URL("../", import.meta.url);
const short = (specifier: string) => specifier.replace(root.href, "");

for (const entry of ENTRIES) {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, root).pathname],
    stdout: "piped",
  }).output();
  if (!success) throw new Error(`deno info ${entry} failed`);
  const info: Info = JSON.parse(new TextDecoder().decode(stdout));
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    if (!module.specifier.startsWith("file:")) faults.push(`${entry} reaches ${module.specifier}`);
    const deps = (module.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
      .filter((d): d is string => d !== undefined);
    graph.set(module.specifier, [...new Set(deps)]);
  }
  if (entry.includes("bun") && [...graph.keys()].some((s) => s.endsWith("/src/deno.ts"))) {
    faults.push(`${entry} loads the Deno bridge (src/deno.ts)`);
  }
  if (entry !== "src/serve_deno.ts" && graph.has(new URL("src/serve_deno.ts", root).href)) {
    faults.push(`${entry} loads the Deno serving helper (src/serve_deno.ts): only ./deno may`);
  }
  if (entry.startsWith("client/")) {
    // The client runs in browsers: its own files, and the shared contract types only.
    for (const module of graph.keys()) {
      const path = short(module);
      if (!path.startsWith("client/") && !CLIENT_SHARED.includes(path)) {
        faults.push(`${entry} loads ${path}, which is not client code`);
      }
      if (
        module.startsWith("file:") && _RUNTIME_GLOBAL.test(Deno.readTextFileSync(new URL(module)))
      ) {
        faults.push(`${entry}: ${path} names a Deno or Bun global`);
      }
    }
  }
  // Depth-first search; a grey node met again closes a cycle.
  const state = new Map<string, "grey" | "black">();
  const visit = (node: string, path: string[]) => {
    state.set(node, "grey");
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "grey") {
        faults.push(
          `${entry}: cycle ${[...path.slice(path.indexOf(next)), next].map(short).join(" -> ")}`,
        );
      } else if (!state.has(next)) {
        visit(next, [...path, next]);
      }
    }
    state.set(node, "black");
  };
  for (const start of info.roots) visit(start, [start]);
  console.log(`${entry}: ${graph.size} local modules`);
}

for (const dir of ["src", "src/adapters", "client"]) {
  for (const file of Deno.readDirSync(new URL(`${dir}/`, root))) {
    if (!file.isFile || !file.name.endsWith(".ts")) continue;
    const lines = Deno.readTextFileSync(new URL(`${dir}/${file.name}`, root)).split("\n").length -
      1;
    if (lines > MAX_LINES) {
      faults.push(`${dir}/${file.name} has ${lines} lines (at most ${MAX_LINES})`);
    }
  }
}

if (faults.length > 0) {
  console.error(faults.join("\n"));
  Deno.exit(1);
}
console.log(
  "only local files, no cycle, the Bun entry without the Deno bridge, serve() only in ./deno, " +
    "the client without server code, no file over 400 lines",
);
