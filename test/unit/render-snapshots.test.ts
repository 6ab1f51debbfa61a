/**
 * Snapshots of every rendered file for each shipped stack (pure renders, fixed
 * seed). A changed render fails until reviewed and re-recorded with
 * UPDATE_SNAPSHOTS=1; in CI a missing snapshot fails too.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { readStackFile, stackFilePath, validate } from "../../infra/config";
import { plan, renderFiles } from "../../infra/render/all";
import { deriveSecrets } from "../../infra/secrets";

const SNAPSHOTS = path.resolve(__dirname, "../snapshots");
const SEED = "snapshot-seed-0123456789abcdef";

function matchSnapshot(file: string, actual: string): void {
  const update = process.env.UPDATE_SNAPSHOTS === "1";
  if (update || (!fs.existsSync(file) && process.env.CI !== "true")) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
    return;
  }
  assert.ok(fs.existsSync(file), `missing snapshot ${file}: record it with UPDATE_SNAPSHOTS=1`);
  assert.equal(actual, fs.readFileSync(file, "utf8"), `${file} changed: review, then UPDATE_SNAPSHOTS=1`);
}

for (const stack of ["local", "dev", "prod"]) {
  describe(`renders of stack ${stack}`, () => {
    const v = validate(stack, readStackFile(stackFilePath(stack)), { requireSecrets: false });
    if (!v.ok) throw new Error(v.errors.join("\n"));
    const files = renderFiles(v.settings, deriveSecrets(SEED));
    for (const f of files) {
      test(f.path, () => matchSnapshot(path.join(SNAPSHOTS, stack, f.path.replace(/^\//, "")), f.content));
    }
    test("plan.json", () => matchSnapshot(path.join(SNAPSHOTS, stack, "plan.json"), `${JSON.stringify(plan(v.settings), null, 2)}\n`));
  });
}

test("renders are pure: the same settings and seed give the same bytes", () => {
  const v = validate("prod", readStackFile(stackFilePath("prod")), { requireSecrets: false });
  if (!v.ok) throw new Error("prod stack invalid");
  assert.deepEqual(renderFiles(v.settings, deriveSecrets(SEED)), renderFiles(v.settings, deriveSecrets(SEED)));
  assert.notDeepEqual(renderFiles(v.settings, deriveSecrets(SEED)), renderFiles(v.settings, deriveSecrets(`${SEED}-other`)));
});
