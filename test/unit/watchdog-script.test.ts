/** Pure parts of the watchdog's script (templates/watchdog/watchdog.py), run by the system's python3. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "../..");

function py(code: string): string {
  return execFileSync("python3", ["-c", `import sys; sys.path[:0] = ["templates/watchdog", "templates/python"]\nimport watchdog\n${code}`], { cwd: ROOT, encoding: "utf8" }).trim();
}

test("a bridge restarted within the second of its last answer has not answered since its start (Docker's StartedAt keeps its fraction)", () => {
  // The last answer at .300, the restart's start at .878 of the same second: seen in the e2e, where
  // the truncated start hid a silent bridge behind the answer from before its restart.
  assert.equal(py(`print(watchdog.parse_started_at("2026-11-30T07:03:16.878276218Z") > 1796022196.3)`), "True");
  assert.equal(py(`print(watchdog.parse_started_at("2026-11-30T07:03:16Z"))`), "1796022196.0");
  assert.equal(py(`print(watchdog.parse_started_at("2026-11-30T07:03:16.5+00:00"))`), "1796022196.5");
});
