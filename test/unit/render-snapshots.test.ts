/**
 * Snapshots of every rendered file for each shipped stack (pure renders, fixed
 * seed). A changed render fails until reviewed and re-recorded with
 * UPDATE_SNAPSHOTS=1; in CI a missing snapshot fails too.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { plan, renderFiles } from "../../infra/render/all";
import { deriveSecrets } from "../../infra/secrets";
import { FEDERATION_VARIANTS, stackSettings } from "../harness/stacks";

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
    const settings = stackSettings(stack);
    const files = renderFiles(settings, deriveSecrets(SEED));
    for (const f of files) {
      test(f.path, () => matchSnapshot(path.join(SNAPSHOTS, stack, f.path.replace(/^\//, "")), f.content));
    }
    test("plan.json", () => matchSnapshot(path.join(SNAPSHOTS, stack, "plan.json"), `${JSON.stringify(plan(settings), null, 2)}\n`));
  });
}

// The files federation changes, in its other modes: a stack behind Cloudflare (the Worker) and one whose nginx
// serves discovery. An allow-list changes Synapse only: nginx and the Worker stay as with "open".
for (const [mode, values] of Object.entries(FEDERATION_VARIANTS)) {
  for (const stack of ["dev", "local"]) {
    describe(`renders of stack ${stack} with federation ${mode}`, () => {
      const open = renderFiles(stackSettings(stack), deriveSecrets(SEED));
      const files = renderFiles(stackSettings(stack, values), deriveSecrets(SEED)).filter((f) => /homeserver\.yaml$/.test(f.path) || f.kind === "nginx" || f.kind === "worker");
      for (const f of files) {
        if (mode === "allow-list" && f.kind !== "yaml") {
          test(`${f.path} is the same as with federation open`, () => assert.equal(f.content, open.find((o) => o.path === f.path)!.content));
        } else {
          test(f.path, () => matchSnapshot(path.join(SNAPSHOTS, `federation-${mode}`, stack, f.path.replace(/^\//, "")), f.content));
        }
      }
    });
  }
}

test("renders are pure: the same settings and seed give the same bytes", () => {
  const prod = stackSettings("prod");
  assert.deepEqual(renderFiles(prod, deriveSecrets(SEED)), renderFiles(prod, deriveSecrets(SEED)));
  assert.notDeepEqual(renderFiles(prod, deriveSecrets(SEED)), renderFiles(prod, deriveSecrets(`${SEED}-other`)));
});
