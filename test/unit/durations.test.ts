/**
 * Every duration input of every stack is already in Go's canonical form, as the
 * docker provider stores it: "60s" would come back as "1m0s" and diff on every
 * `pulumi up`. The canonical form comes from real Go (time.Duration.String).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { goDuration } from "../../infra/render/duration";
import { runProgram, TEST_SECRETS } from "../harness/program";

const ROOT = path.resolve(__dirname, "../..");
const GO_DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;

/** Go's canonical spelling of each duration, from `go run`. */
function goCanonical(values: string[]): string[] {
  const r = spawnSync("go", ["run", path.join(ROOT, "test/go-duration/main.go")], {
    input: `${values.join("\n")}\n`,
    encoding: "utf8",
    env: { ...process.env, GO111MODULE: "off" },
    timeout: 180_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split("\n");
}

/** docker.Container's duration-typed inputs (its other times, stopTimeout and the like, are integers). */
const DURATION_KEYS = /\.healthcheck\.(interval|timeout|startPeriod|startInterval)$/;

function durations(value: unknown, at: string, out: { at: string; value: string }[]): void {
  if (DURATION_KEYS.test(at)) {
    assert.ok(typeof value === "string" && GO_DURATION.test(value), `${at}: ${JSON.stringify(value)} is not a Go duration`);
    out.push({ at, value });
  }
  else if (Array.isArray(value)) value.forEach((v, i) => durations(v, `${at}[${i}]`, out));
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) durations(v, `${at}.${k}`, out);
}

const stacks = fs.readdirSync(path.join(ROOT, "stacks")).map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter((s): s is string => !!s);

test("every duration input of the docker resources, in every stack, is Go's canonical form", async () => {
  const found: { at: string; value: string }[] = [];
  for (const stack of stacks) {
    const run = await runProgram({ stack, secrets: TEST_SECRETS });
    for (const r of run.resources.filter((x) => x.type.startsWith("docker:"))) durations(r.inputs, `${stack}:${r.name}`, found);
  }
  assert.ok(found.some((d) => d.at.endsWith("healthcheck.startPeriod")), "the health checks' durations were found");
  const canonical = goCanonical(found.map((d) => d.value));
  const wrong = found.flatMap((d, i) => (canonical[i] === d.value ? [] : [`${d.at}: "${d.value}", the provider stores "${canonical[i]}"`]));
  assert.deepEqual(wrong, []);
});

test("goDuration (renders) agrees with Go for 0 s to 2 h and a few days", () => {
  const seconds = [...Array.from({ length: 7201 }, (_, i) => i), 86_400, 90_061, 604_800];
  assert.deepEqual(seconds.map(goDuration), goCanonical(seconds.map((x) => `${x}s`)));
  assert.throws(() => goDuration(1.5), /whole/);
});
