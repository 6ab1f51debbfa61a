/**
 * `npm run up`'s arguments (infra/cli/up.sh) as a real process: one way to name a stack, as
 * in verify, status and stickers (the bare word kept), --yes for runs without a terminal, and
 * a usage line (exit 2) for anything else. The run stops at its first set-up step here: `npm`
 * on the PATH is a STAND-IN that fails, so nothing is installed or deployed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "../..");
const bin = fs.mkdtempSync(path.join(os.tmpdir(), "kit-up-"));
fs.writeFileSync(path.join(bin, "npm"), "#!/bin/sh\necho 'npm (stand-in): stopping here' >&2\nexit 3\n", { mode: 0o755 });

function up(...args: string[]) {
  // stdin is not a terminal here, as in a script or CI.
  const r = spawnSync("bash", [path.join(ROOT, "infra/cli/up.sh"), ...args], { encoding: "utf8", input: "", env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const USAGE = "usage: npm run up -- [--stack] <stack> [--yes]   (default stack: local)";

for (const args of [["--stack", "e2e", "--yes"], ["e2e", "--yes"], ["--stack=e2e", "-y"], ["--yes", "--stack", "e2e"]]) {
  test(`npm run up -- ${args.join(" ")}: stack e2e, applied without asking`, () => {
    const r = up(...args);
    assert.equal(r.out.split("\n")[0], "npm run up: stack e2e (stacks/Pulumi.e2e.yaml), applying without asking (--yes)");
    assert.equal(r.status, 3, "it went on to the set-up (the stand-in npm stops it)");
  });
}

test("npm run up -- --yes: the default stack local", () => {
  assert.equal(up("--yes").out.split("\n")[0], "npm run up: stack local (stacks/Pulumi.local.yaml), applying without asking (--yes)");
});

for (const [args, says] of [
  [["--stack"], "npm run up: --stack needs a stack name"],
  [["--stack", "--yes"], "npm run up: --stack needs a stack name"],
  [["--bogus"], "npm run up: unknown option --bogus"],
  [["e2e", "dev", "--yes"], 'npm run up: one stack only (got "e2e" and "dev")'],
  [["no-such", "--yes"], 'npm run up: no stack "no-such": stacks/Pulumi.no-such.yaml does not exist (copy stacks/Pulumi.dev.yaml and edit it)'],
  [["../x", "--yes"], 'npm run up: "../x" is not a stack name (letters, digits, . _ -)'],
  [["e2e"], "npm run up: no terminal to confirm the update on: pass --yes to apply after the preview without asking"],
] as const) {
  test(`npm run up -- ${args.join(" ")}: a usage line, exit 2, nothing run`, () => {
    const r = up(...args);
    assert.equal(r.status, 2);
    assert.equal(r.out, "");
    assert.equal(r.err, `${says}\n${USAGE}\n`);
  });
}
