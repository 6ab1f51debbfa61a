/**
 * Which external programs the project's tests, benchmarks and commands start, and which set-up
 * script installs each (test/unit/setup-programs.test.ts holds them together).
 *
 * Found by parsers, not by patterns: TypeScript's own compiler reads every spawn, spawnSync,
 * execFile, execFileSync, exec and execSync whose program is literal text, and mvdan.cc/sh (the
 * parser behind shfmt, test/setup/shell-calls) reads every command line of the shell scripts and
 * of the `sh -c` texts the TypeScript passes. A program named by a variable cannot be known here;
 * test/harness/missing-program.ts names it when it turns out to be missing at run time.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

export const ROOT = path.resolve(__dirname, "../..");

/** A program started at `file:line`. */
export interface Start {
  program: string;
  file: string;
  line: number;
}

/**
 * The set-up scripts, and what runs after each. A program a file starts must be preinstalled or
 * declared (`need <program> <package>`) by a set-up script that runs before that file does.
 */
export const SCOPES: { setup: string[]; files: RegExp; what: string; alsoAccepted?: string[] }[] = [
  // npm test: validators.sh runs before the unit, render and validator tests.
  { setup: ["test/setup/validators.sh"], files: /^test\/(unit|render|harness|go-duration|run\.sh|setup\/)/, what: "the unit and render tests" },
  // npm run e2e and the benchmarks source vps.sh; the e2e's image build installs debootstrap itself.
  // The rendered VPS scripts run on this machine there, since it plays the VPS.
  { setup: ["test/e2e/vps.sh", "test/e2e/images/build.sh"], files: /^(test\/e2e\/|test\/snapshots\/|bench\/)/, what: "the end-to-end run and the benchmarks" },
  // npm run up and the operator commands (verify, status, stickers, backup, restore) on the owner's
  // machine. sudo only where the owner is not root (packages.sh's as_root): a prerequisite there.
  { setup: ["infra/cli/up.sh"], files: /^infra\/(cli|ops)\//, what: "npm run up and the operator commands", alsoAccepted: ["sudo"] },
];

const SPAWNERS = new Set(["spawn", "spawnSync", "execFile", "execFileSync"]);
const SHELL_RUNNERS = new Set(["exec", "execSync"]);
const SHELLS = new Set(["sh", "bash", "/bin/sh", "/bin/bash"]);

/** The text of a string or template literal, with each `${…}` turned into a shell expansion (never a program name). */
function literalText(node: ts.Node | undefined): string | undefined {
  if (!node) return undefined;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((s) => "${KIT_SUBST}" + s.literal.text).join("");
  return undefined;
}

function files(dir: string, ext: RegExp): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs
    .readdirSync(abs, { recursive: true, encoding: "utf8" })
    .filter((f) => ext.test(f) && !f.split(path.sep).includes("node_modules"))
    .map((f) => path.join(dir, f));
}

/** Programs started from TypeScript, and the `sh -c` texts to read as shell. */
export function typescriptStarts(dirs: string[]): { starts: Start[]; shellTexts: { text: string; file: string; line: number }[] } {
  const starts: Start[] = [];
  const shellTexts: { text: string; file: string; line: number }[] = [];
  for (const file of dirs.flatMap((d) => files(d, /\.ts$/))) {
    const source = ts.createSourceFile(file, fs.readFileSync(path.join(ROOT, file), "utf8"), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) {
        const callee = ts.isIdentifier(node.expression) ? node.expression.text : ts.isPropertyAccessExpression(node.expression) ? node.expression.name.text : "";
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        const [first, second] = node.arguments;
        const program = literalText(first);
        // puppeteer's launch({ executablePath: "/usr/bin/chromium" }) starts the browser.
        const executable = node.arguments.find(ts.isObjectLiteralExpression)?.properties.find(
          (p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && p.name.getText(source) === "executablePath",
        );
        const browser = literalText(executable?.initializer);
        if (browser) starts.push({ program: browser, file, line });
        if (SHELL_RUNNERS.has(callee) && program !== undefined) shellTexts.push({ text: program, file, line });
        if (SPAWNERS.has(callee) && program !== undefined && !program.includes("${KIT_SUBST}")) {
          starts.push({ program, file, line });
          if (SHELLS.has(program) && second && ts.isArrayLiteralExpression(second) && literalText(second.elements[0]) === "-c") {
            const text = literalText(second.elements[1]);
            if (text !== undefined) shellTexts.push({ text, file, line });
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { starts, shellTexts };
}

interface ShellRecord {
  file: string;
  line: number;
  name?: string;
  function?: string;
  args?: string[];
}

const SHELL_CALLS = path.join(ROOT, "test/setup/shell-calls");

function shellCalls(args: string[], input?: string): ShellRecord[] {
  const r = spawnSync("go", ["run", ".", ...args], { cwd: SHELL_CALLS, input, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`test/setup/shell-calls: ${r.error?.message ?? ""}${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ShellRecord)
    .map((rec) => ({ ...rec, file: path.isAbsolute(rec.file) ? path.relative(ROOT, rec.file) : rec.file }));
}

/** Every command line of the shell scripts under `dirs` (images' insides excepted) and of the given texts. */
export function shellRecords(dirs: string[], texts: { text: string; file: string; line: number }[]): ShellRecord[] {
  // The image's entrypoint runs inside the image, not on this machine.
  const scripts = dirs.flatMap((d) => files(d, /\.sh$/)).filter((f) => !f.startsWith("test/e2e/images/postgres/"));
  const records = shellCalls(scripts.map((f) => path.join(ROOT, f)));
  for (const t of texts) {
    records.push(...shellCalls(["-label", t.file, "-"], t.text).map((r) => ({ ...r, line: t.line + r.line - 1 })));
  }
  return records;
}

/** Shell builtins and keywords: `bash -c 'compgen -bk'` on this machine's bash. */
function shellBuiltins(): Set<string> {
  const r = spawnSync("bash", ["-c", "compgen -b; compgen -k"], { encoding: "utf8" });
  return new Set(r.stdout.split("\n").filter(Boolean));
}

/** `need <program> <package>` lines of the set-up scripts: what each installs when missing. */
export function declaredBySetup(records: ShellRecord[]): Map<string, { program: string; pkg: string; line: number }[]> {
  const bySetup = new Map<string, { program: string; pkg: string; line: number }[]>();
  for (const r of records) {
    if (r.name !== "need" || !r.args || r.args.length < 2 || !r.args[0] || !r.args[1]) continue;
    const list = bySetup.get(r.file) ?? [];
    list.push({ program: path.basename(r.args[0]), pkg: r.args[1], line: r.line });
    bySetup.set(r.file, list);
  }
  return bySetup;
}

/** The programs a new machine of this kind has before anything is installed (test/setup/preinstalled.txt). */
export function preinstalled(): Set<string> {
  return new Set(
    fs
      .readFileSync(path.join(ROOT, "test/setup/preinstalled.txt"), "utf8")
      .split("\n")
      .map((l) => l.replace(/#.*/, "").trim())
      .filter(Boolean),
  );
}

/** Every external program started under `dirs`, with where (shell builtins, functions and the project's own files left out). */
export function programsStarted(dirs: string[]): { starts: Start[]; records: ShellRecord[] } {
  const { starts, shellTexts } = typescriptStarts(dirs);
  const records = shellRecords(dirs, shellTexts);
  const builtins = shellBuiltins();
  const functions = new Set(records.flatMap((r) => (r.function ? [r.function] : [])));
  for (const r of records) if (r.name) starts.push({ program: r.name, file: r.file, line: r.line });
  const external = starts.filter(({ program }) => {
    if (builtins.has(program) || functions.has(program) || program === "" || program.startsWith("-")) return false;
    // A path inside the project (a script, the Synapse virtualenv) is the project's own.
    if (program.includes("/") && !path.isAbsolute(program)) return false;
    return true;
  });
  return { starts: external.map((s) => ({ ...s, program: path.basename(s.program) })), records };
}

/**
 * What is wrong, one line each: a program neither preinstalled nor declared by a set-up script of
 * the scope its file is in, or a file in no scope.
 */
export function unaccounted(starts: Start[], declared: Map<string, { program: string }[]>, machine: Set<string>): string[] {
  const problems = new Set<string>();
  for (const s of starts) {
    const at = `${s.program} (${s.file}:${s.line})`;
    const scope = SCOPES.find((sc) => sc.files.test(s.file));
    if (!scope) {
      problems.add(`${at}: no set-up script is known to run before ${s.file} (test/harness/programs.ts: SCOPES)`);
      continue;
    }
    if (machine.has(s.program) || scope.alsoAccepted?.includes(s.program)) continue;
    if (scope.setup.some((script) => declared.get(script)?.some((d) => d.program === s.program))) continue;
    const first = scope.setup[0]!;
    problems.add(
      `${at} is neither preinstalled on a new machine (test/setup/preinstalled.txt) nor installed by ${scope.setup.join(" or ")}, ` +
        `which runs before ${scope.what}: add \`need ${s.program} <Debian package>\` to ${first}`,
    );
  }
  return [...problems];
}
