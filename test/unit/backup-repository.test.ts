/**
 * `pulumi up` opens the backup repository before anything changes: the real program under Pulumi's
 * MOCK runtime on the `local` stack (its VPS is this machine), with the check's invoke run for real
 * (as the command provider runs it) against REAL restic repositories (Debian's restic, installed by
 * test/setup/validators.sh) in folders of the test's own.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { deriveSecrets } from "../../infra/secrets";
import { runProgram, TEST_SECRETS } from "../harness/program";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-repository-"));
const PASSWORD = deriveSecrets(TEST_SECRETS["matrix:secretSeed"]).backupPassword;

const up = (repository: string, preview = false) =>
  runProgram({ stack: "local", secrets: TEST_SECRETS, values: { "matrix:backup": { repository } }, invokes: "run", preview });

/** restic with a password of the test's choosing. */
function restic(repository: string, password: string, ...args: string[]) {
  return spawnSync("restic", ["--no-cache", "-r", repository, ...args], { encoding: "utf8", env: { ...process.env, RESTIC_PASSWORD: password } });
}

describe("the backup repository, opened by the VPS before anything changes (real restic)", () => {
  after(() => fs.rmSync(TMP, { recursive: true, force: true }));

  test("a preview says a missing repository will be made and makes nothing; an update initialises it with the stack's password", async () => {
    const repository = path.join(TMP, "new");
    const preview = await up(repository, true);
    assert.ok(preview.resources.length > 10);
    assert.equal(fs.existsSync(repository), false, "a preview changes nothing");
    await up(repository);
    const opened = restic(repository, PASSWORD, "cat", "config");
    assert.equal(opened.status, 0, `the stack's derived password opens it: ${opened.stderr}`);
  });

  test("a repository another deployment made (another password) stops the update before any resource, naming matrix:backup.repository and restic's reason", async () => {
    const repository = path.join(TMP, "other");
    assert.equal(restic(repository, "another deployment's password", "init").status, 0);
    await assert.rejects(up(repository), (e: Error & { registered?: string[] }) => {
      assert.ok(pulumi.RunError.isInstance(e), `a RunError, got ${e.name}: ${e.message}`);
      assert.match(e.message, new RegExp(`^matrix-kit: matrix:backup\\.repository ${repository} cannot be opened from the VPS: .*wrong password or no key found`));
      assert.match(e.message, /\n {2}Nothing was changed\. A repository made by another deployment has another password/);
      assert.deepEqual((e.registered ?? []).filter((r) => !r.startsWith("pulumi:pulumi:Stack")), [], "no resource registered");
      return true;
    });
    // The preview says the same.
    await assert.rejects(up(repository, true), /cannot be opened from the VPS/);
  });
});
