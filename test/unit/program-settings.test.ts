/**
 * The real program under Pulumi's MOCK runtime (no engine, no providers) with settings other than
 * the stacks' own: an unchecked host key, bad config, a failed host-key check, the destroy guard's
 * place, and the warnings at preview and up.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { DESTROY_GUARD } from "../../infra/render/ssh";
import { byType, one, REMOTE_CMD, runProgram, TEST_SECRETS } from "../harness/program";

test("matrix:target.hostKey insecure-accept-any: no check, ssh told to accept any key, no hostKey on commands", async () => {
  const run = await runProgram({
    stack: "dev",
    secrets: TEST_SECRETS,
    values: { "matrix:target": { kind: "ssh", host: "203.0.113.10", hostKey: "insecure-accept-any" } },
  });
  assert.deepEqual(run.invokes.filter((i) => i.token === "command:local:run"), [], "no host-key check");
  assert.deepEqual(JSON.parse(one(run, "mx-dev-host-docker").inputs.sshOpts), [
    "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR",
  ]);
  for (const cmd of byType(run, REMOTE_CMD)) assert.equal("hostKey" in cmd.inputs.connection, false, cmd.name);
});

describe("bad config under Pulumi mocks", () => {
  test("the program stops with a RunError (printed without a stack trace) naming every key, and registers no resource", async () => {
    await assert.rejects(
      runProgram({
        stack: "broken",
        fromStackFile: false,
        values: { "matrix:domain": "Not A Domain", "matrix:target": { kind: "ssh" }, "matrix:synapse": { maxUploadSize: "huge" } },
        secrets: { "matrix:secretSeed": TEST_SECRETS["matrix:secretSeed"] },
      }).then((r) => assert.deepEqual(r.resources, [], "no resource before validation")),
      (e: Error) => {
        assert.ok(pulumi.RunError.isInstance(e), `a RunError, got ${e.name}`);
        // Error.stack is the error's own (a field named `stack` once overwrote it with the stack's name).
        assert.match(String(e.stack), /^Error: stack "broken" has 5 configuration problem\(s\):/);
        assert.equal(e.message.split("\n")[0], 'stack "broken" has 5 configuration problem(s):');
        assert.match(e.message, /\n {2}- matrix:domain must be a lower-case DNS name/);
        assert.match(e.message, /\n {2}- matrix:target\.host is required/);
        assert.match(e.message, /\n {2}- matrix:synapse\.maxUploadSize must be a size like "50M"/);
        assert.match(e.message, /\n {2}- matrix:sshPrivateKey is required/);
        return true;
      },
    );
  });
});

describe("preflight under Pulumi mocks (the host-key invoke answered by the test)", () => {
  const mismatch = [
    "matrix-kit: the ssh host key of 203.0.113.10 port 22 does not match matrix:target.hostKey. Stopped before changing anything.",
    "  the VPS presents:         ssh-ed25519 AAAAother",
  ].join("\n");
  test("a host key check that does not end in the kit's OK line stops the run with the check's own words, before any resource", async () => {
    await assert.rejects(runProgram({ stack: "dev", secrets: TEST_SECRETS, invokes: () => mismatch }), (e: Error & { registered?: string[] }) => {
      assert.ok(pulumi.RunError.isInstance(e), `a RunError, got ${e.name}`);
      assert.equal(e.message, mismatch);
      assert.deepEqual((e.registered ?? []).filter((r) => !r.startsWith("pulumi:pulumi:Stack")), []);
      return true;
    });
  });
});

test("the destroy guard depends on every other resource of the stack, so destroy deletes it first; its delete reaches Docker as the provider does", async () => {
  for (const stack of ["local", "prod"]) {
    const run = await runProgram({ stack, secrets: TEST_SECRETS });
    const p = `mx-${stack}`;
    const guard = one(run, `${p}-host-destroy-guard`);
    const custom = run.resources.filter((r) => !r.type.startsWith("kit:") && !r.type.startsWith("pulumi:") && r !== guard).map((r) => r.name);
    assert.deepEqual(custom.filter((n) => !guard.dependencies.includes(n)), [], `${stack}: every resource is deleted after the guard`);
    assert.equal(guard.inputs.create, "true");
    assert.equal(guard.inputs.addPreviousOutputInEnv, false);
    // The provider prints a failed command whole: the command is one short line, the script in the environment.
    assert.equal(guard.inputs.delete, DESTROY_GUARD.command);
    const script = guard.inputs.environment[DESTROY_GUARD.variable] as string;
    if (stack === "local") assert.match(script, /if ! out=\$\(docker version --format '\{\{\.Server\.Version\}\}' 2>&1\)/);
    else {
      const opts = JSON.parse(one(run, `${p}-host-docker`).inputs.sshOpts) as string[];
      assert.ok(script.includes(["ssh", "-p", "22", "-l", "deploy", ...opts, "198.51.100.7", "docker"].map((a) => `'${a}'`).join(" ")), script);
    }
    assert.match(script, /Nothing was removed/);
    // The prod stack backs up (matrix:backup.beforeDestroy defaults to true): after reaching Docker, before anything is removed.
    if (stack === "prod") assert.ok(script.includes(`'198.51.100.7' '/opt/matrix-kit/prod/backup/backup.sh' 'destroy'`), script);
    else assert.doesNotMatch(script, /backup/);
  }
  const off = await runProgram({ stack: "prod", secrets: TEST_SECRETS, values: { "matrix:backup": { repository: "sftp:r@b:/x", beforeDestroy: false } } });
  assert.doesNotMatch(one(off, "mx-prod-host-destroy-guard").inputs.environment[DESTROY_GUARD.variable], /backup/);
});

test("no Cloudflare and no TLS: a warning at preview and up that the server cannot federate", async () => {
  const warnings: string[] = [];
  const warn = pulumi.log.warn;
  pulumi.log.warn = (async (msg: string) => void warnings.push(msg)) as unknown as typeof pulumi.log.warn;
  try {
    await runProgram({ stack: "local", secrets: TEST_SECRETS });
    await runProgram({ stack: "prod", secrets: TEST_SECRETS });
    // With federation off there is no other server to reach it: nothing to warn about.
    await runProgram({ stack: "local", secrets: TEST_SECRETS, values: { "matrix:federation": { mode: "off" } } });
  } finally {
    pulumi.log.warn = warn;
  }
  assert.deepEqual(warnings.filter((w) => /cannot federate/.test(w)).length, 1, warnings.join("\n"));
  assert.match(warnings.find((w) => /cannot federate/.test(w))!, /^kit\.localhost cannot federate: matrix:cloudflare\.enabled is false and matrix:nginx\.tls\.source is "none"/);
});

test("backups: a stack without a repository is warned about at preview and up; one on the VPS's own disk too; one elsewhere is not", async () => {
  const warningsFor = async (backup: unknown) => {
    const warnings: string[] = [];
    const warn = pulumi.log.warn;
    pulumi.log.warn = (async (msg: string) => void warnings.push(msg)) as unknown as typeof pulumi.log.warn;
    try {
      await runProgram({ stack: "prod", secrets: TEST_SECRETS, values: backup === undefined ? {} : { "matrix:backup": backup } });
    } finally {
      pulumi.log.warn = warn;
    }
    return warnings.filter((w) => /back/.test(w));
  };
  assert.deepEqual(await warningsFor(undefined), []);
  assert.deepEqual(await warningsFor({ repository: null }), ["nothing backs up example.com: matrix:backup.repository is not set, so a lost VPS or volume loses every conversation (see Backups in docs/operations.md)."]);
  assert.deepEqual(await warningsFor({ repository: "/srv/restic" }), [
    "matrix:backup.repository /srv/restic is a folder on the VPS itself: a lost VPS loses its backups with it. Use a repository on another machine (sftp:, rest:, s3:, b2: ...).",
  ]);
});
