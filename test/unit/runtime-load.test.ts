/**
 * The program loads exactly as `pulumi up` loads it: Pulumi's own Node.js runtime
 * (`@pulumi/pulumi/cmd/run`) registers ts-node with the type check on, from the
 * program's directory (infra/, Pulumi.yaml `main`), and requires infra/index.ts.
 * tsx (which never type-checks) and `tsc -p .` (the root tsconfig.json) both
 * passed while every user's first `pulumi up` failed here.
 * The resource monitor is Pulumi's MOCK monitor: no engine can run here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { runtimeConfig, TEST_SECRETS } from "../harness/program";

const ROOT = path.resolve(__dirname, "../..");
const LOADER = path.join(ROOT, "test/harness/pulumi-runtime-load.js");

function load(stack: string, env: Record<string, string> = {}) {
  const { config, secretKeys } = runtimeConfig({ stack, secrets: TEST_SECRETS });
  // A clean environment for the loader: no tsx hooks inherited from this test process.
  const { NODE_OPTIONS: _drop, ...base } = process.env;
  const r = spawnSync(process.execPath, [LOADER, stack, JSON.stringify(config), JSON.stringify(secretKeys)], {
    cwd: ROOT,
    env: { ...base, ...env },
    encoding: "utf8",
    timeout: 180_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const stacks = fs.readdirSync(path.join(ROOT, "stacks")).map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter((s): s is string => !!s);

for (const stack of stacks) {
  test(`stack ${stack}: Pulumi's Node.js runtime compiles (type check on) and runs the program (mock monitor)`, () => {
    const r = load(stack);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /LOADED [1-9][0-9]* resources/);
  });
}

test("the same loader refuses a program with a type error (the check is on)", () => {
  const r = load("local", { PROGRAM_DIR: path.join(ROOT, "test/fixtures/runtime-type-error") });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /TSError[\s\S]*index\.ts\(2,7\): error TS2322/);
});
