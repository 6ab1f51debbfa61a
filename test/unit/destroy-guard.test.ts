/**
 * What a destroy with the VPS unreachable shows the owner: the real program under Pulumi's MOCK
 * runtime makes the destroy guard; its delete runs as the command provider runs it from the state
 * (test/harness/lifecycle.ts: the stored interpreter, command and environment; the provider's own
 * `exit status N: running "<command>":` form) against a loopback port nothing listens on, with
 * the real ssh. The whole text must be the kit's lines and little else.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { DESTROY_GUARD } from "../../infra/render/ssh";
import { freePort } from "../harness/http";
import { deleteOne } from "../harness/lifecycle";
import { one, runProgram, TEST_SECRETS } from "../harness/program";

test("destroy with the VPS unreachable: the diagnostics are the kit's lines after one short line of the provider's (its command is not the script)", async () => {
  const port = await freePort();
  const target = { kind: "ssh", host: "127.0.0.1", port, user: "root", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmIZvU29ItBsATlHkmGFr9FsNjbax5aYr/eWhHWhrmr" };
  const run = await runProgram({ stack: "prod", values: { "matrix:target": target }, secrets: TEST_SECRETS });
  const guard = one(run, "mx-prod-host-destroy-guard");
  assert.equal(guard.inputs.delete, DESTROY_GUARD.command);
  const script = guard.inputs.environment[DESTROY_GUARD.variable] as string;
  assert.ok(script.length > 1500, `the script itself is long (${script.length} characters): it must not be what the provider prints`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-guard-"));
  try {
    const noDocker = () => Promise.reject(new Error("the guard needs no Docker connection"));
    const failed = await deleteOne({ type: guard.type, name: guard.name, inputs: guard.inputs, dependencies: [] }, noDocker, tmp).then(
      () => assert.fail("the delete must fail"),
      (e: Error) => e.message,
    );
    assert.equal(
      failed,
      [
        'exit status 1: running "eval \\"$MATRIX_KIT_DESTROY_GUARD\\"":',
        `matrix-kit: cannot reach the Docker engine on root@127.0.0.1 port ${port}: ssh: connect to host 127.0.0.1 port ${port}: Connection refused`,
        "  Nothing was removed: destroy stops before the first step, so no container is left running behind a removed site.",
        "  Bring the VPS back (or correct matrix:target and run pulumi up), then run pulumi destroy again. If the VPS is gone for good, pulumi stack rm --force forgets the stack.",
        "",
      ].join("\n"),
    );
    assert.ok(failed.length < 500, `${failed.length} characters`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
