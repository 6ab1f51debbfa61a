/**
 * Every program the tests, the benchmarks and the kit's commands start is on a new machine already
 * (test/setup/preinstalled.txt) or installed by a set-up script that runs before them. A program
 * installed by hand once made `npm test` pass on one machine and fail on every new one (HAProxy,
 * which the render tests run, was installed by no set-up script).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import { isMissing, notInstalledMessage } from "../harness/missing-program";
import { declaredBySetup, preinstalled, programsStarted, ROOT, SCOPES, unaccounted, type Start } from "../harness/programs";

const SCANNED = ["test", "bench", "infra/cli", "infra/ops"];

describe("the programs the project starts, and the set-up that installs them", () => {
  let starts: Start[] = [];
  let declared: ReturnType<typeof declaredBySetup>;
  before(() => {
    const found = programsStarted(SCANNED);
    starts = found.starts;
    declared = declaredBySetup(found.records);
  });

  it("finds the programs: HAProxy from the render tests, nginx from the e2e, ssh from the operator commands, restic from the VPS's scripts", () => {
    const where = (program: string) => starts.filter((s) => s.program === program).map((s) => s.file);
    assert.ok(where("haproxy").includes("test/harness/haproxy.ts"), "haproxy in test/harness/haproxy.ts");
    assert.ok(where("haproxy").includes("test/render/bridge-queue.test.ts"), "haproxy -c in the bridge queue's test");
    assert.ok(where("nginx").includes("test/e2e/site-reload.ts"));
    assert.ok(where("ssh").includes("infra/ops/remote.ts"));
    assert.ok(where("chromium").some((f) => f.startsWith("test/e2e/")), "the browser the e2e launches");
    assert.ok(where("restic").some((f) => f.startsWith("test/snapshots/")), "restic in the rendered backup script");
    // The shell parser reads through wrappers and `sh -c` texts, and never takes a heredoc's body for a command.
    assert.ok(where("sha256sum").includes("test/e2e/images/build.sh"), "xargs -0 sha256sum");
    assert.ok(!starts.some((s) => s.program === "Port"), "sshd_config's heredoc is no command");
  });

  it("the set-up scripts declare what they install, one `need <program> <package>` a line", () => {
    const of = (script: string) => (declared.get(script) ?? []).map((d) => `${d.program}:${d.pkg}`);
    assert.ok(of("test/setup/validators.sh").includes("haproxy:haproxy"));
    assert.ok(of("test/e2e/vps.sh").includes("dockerd:docker.io"));
    assert.ok(of("infra/cli/up.sh").includes("nginx:nginx"));
  });

  it("every program is preinstalled on a new machine or installed by a set-up script that runs before it", () => {
    const problems = unaccounted(starts, declared, preinstalled());
    assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
  });

  it("the check fails, naming the program and the set-up script, when a program is not installed by the set-up (validators.sh without its haproxy line)", () => {
    const withoutHaproxy = new Map([...declared].map(([script, list]) => [script, list.filter((d) => d.program !== "haproxy")]));
    const problems = unaccounted(starts, withoutHaproxy, preinstalled());
    assert.ok(problems.length > 0);
    for (const p of problems) assert.match(p, /^haproxy \(test\/(harness|render|setup)\/[a-z-]+(\.test)?\.(ts|sh):\d+\) is neither preinstalled on a new machine \(test\/setup\/preinstalled\.txt\) nor installed by test\/setup\/validators\.sh, which runs before the unit and render tests: add `need haproxy <Debian package>` to test\/setup\/validators\.sh$/);
  });

  it("a file no set-up script runs before is refused too", () => {
    const problems = unaccounted([{ program: "frobnicate", file: "docs/tool.ts", line: 3 }], declared, preinstalled());
    assert.deepEqual(problems, ["frobnicate (docs/tool.ts:3): no set-up script is known to run before docs/tool.ts (test/harness/programs.ts: SCOPES)"]);
  });

  it("every scope names set-up scripts that exist", () => {
    for (const scope of SCOPES) for (const script of scope.setup) assert.ok(fs.existsSync(path.join(ROOT, script)), script);
  });
});

describe("a test that starts a missing program fails with the program's name and the set-up script (test/harness/missing-program.ts)", () => {
  const missing = `kit-no-such-program-${process.pid}`;

  it("spawnSync throws instead of answering status null", () => {
    assert.ok(isMissing(missing));
    assert.throws(() => spawnSync(missing, ["-c"], { encoding: "utf8" }), { message: notInstalledMessage(missing) });
    assert.equal(notInstalledMessage("haproxy"), "haproxy is not installed (test/setup/validators.sh installs what the tests run)");
  });

  it("execFileSync, spawn and execFile name it too", async () => {
    const cp = await import("node:child_process");
    assert.throws(() => cp.execFileSync(missing), { message: notInstalledMessage(missing) });
    const viaSpawn = await new Promise<Error>((resolve) => cp.spawn(missing).on("error", resolve));
    assert.equal(viaSpawn.message, notInstalledMessage(missing));
    const viaCallback = await new Promise<Error | null>((resolve) => cp.execFile(missing, (e) => resolve(e)));
    assert.equal(viaCallback?.message, notInstalledMessage(missing));
    await assert.rejects(promisify(cp.execFile)(missing), { message: notInstalledMessage(missing) });
    // promisify(execFile) still answers Node's own { stdout, stderr }.
    assert.deepEqual(await promisify(cp.execFile)("sh", ["-c", "echo out; echo err >&2"], { encoding: "utf8" }), { stdout: "out\n", stderr: "err\n" });
  });

  it("a program that is there but fails, or a missing working directory, keeps Node's own answer", () => {
    const r = spawnSync("sh", ["-c", "exit 3"]);
    assert.equal(r.status, 3);
    const noDir = spawnSync("sh", ["-c", "true"], { cwd: path.join(os.tmpdir(), `kit-no-such-dir-${process.pid}`) });
    assert.equal((noDir.error as NodeJS.ErrnoException | undefined)?.code, "ENOENT");
  });
});
