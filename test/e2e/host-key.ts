/**
 * Before anything is applied: the program against a VPS that presents another host
 * key than the stack's, against a closed port, and the docker provider's own ssh with the kit's
 * pinned options. Registered at the top of the e2e suite, outside its describe: nothing is
 * deployed yet, and nothing may be.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../../infra/settings";
import type { ProgramRun } from "../harness/program";
import { openTunnel } from "../harness/provider-io";
import { docker } from "../harness/wait";

/** "<type> <base64>" of an ssh public key file (its comment dropped). */
export const publicKey = (file: string) => fs.readFileSync(file, "utf8").split(" ").slice(0, 2).join(" ");

export interface HostKeyContext {
  s: Settings;
  stack: string;
  e2eDir: string;
  /** The host key of this run's sshd, as the stack's config has it. */
  hostKey: string;
  summary: string[];
  /** The program with this host key configured and these stack values over the run's. */
  runE2e: (hostKey: string, extra?: Record<string, unknown>) => Promise<ProgramRun>;
}

export function hostKeyTests(ctx: HostKeyContext): void {
  const { s, stack, hostKey, summary } = ctx;
  /** A fresh key pair's public half: a host key this VPS does not present. */
  const otherHostKey = (): string => {
    const file = `${ctx.e2eDir}/other_host_ed25519`;
    fs.rmSync(file, { force: true });
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
    return publicKey(`${file}.pub`);
  };

  test("e2e: the VPS presents another host key than matrix:target.hostKey: the run stops with the kit's message alone, before anything is registered", async () => {
    await assert.rejects(ctx.runE2e(otherHostKey()), (e: Error) => {
      assert.ok(pulumi.RunError.isInstance(e), "a RunError: Pulumi prints its message without a stack trace");
      assert.match(e.message, /^matrix-kit: the ssh host key of 127\.0\.0\.1 port 2222 does not match matrix:target\.hostKey\. Stopped before changing anything\.\n/);
      assert.ok(e.message.includes(`the VPS presents:         ${hostKey}`), e.message);
      assert.equal(e.message.split("\n").length, 4, "four lines, nothing else");
      const registered = (e as Error & { registered?: string[] }).registered ?? [];
      assert.deepEqual(registered.filter((r) => !r.startsWith("pulumi:pulumi:Stack")), [], "nothing was registered");
      summary.push("up with another host key configured, what the user reads:", ...e.message.split("\n").map((l) => `  ${l}`));
      return true;
    });
    assert.equal(docker("ps", "-aq", "--filter", `label=kit.matrix/stack=${stack}`).trim(), "", "no container was created");
  });

  test("e2e: an unreachable VPS: the run stops with one line naming matrix:target.host and port, before anything is registered", async () => {
    const closed = { "matrix:target": { ...s.target, hostKey, port: 2299 } };
    await assert.rejects(ctx.runE2e(hostKey, closed), (e: Error) => {
      assert.ok(pulumi.RunError.isInstance(e));
      assert.equal(e.message, "matrix-kit: could not read the ssh host key of 127.0.0.1 port 2299 (ssh-keyscan -t ed25519): is the VPS up and are matrix:target.host and matrix:target.port right? Nothing was changed.");
      summary.push("up with an unreachable VPS, what the user reads:", `  ${e.message}`);
      return true;
    });
  });

  test("e2e: the docker provider's ssh (only the kit's sshOpts, no known_hosts file anywhere) refuses a VPS whose key is not the pinned one", async () => {
    const good = (await ctx.runE2e(hostKey)).resources.find((r) => r.type === "pulumi:providers:docker")!;
    const opts = JSON.parse(good.inputs.sshOpts) as string[];
    const wrong = otherHostKey();
    const swapped = opts.map((o) => (o.startsWith("KnownHostsCommand=") ? `KnownHostsCommand=/bin/echo [127.0.0.1]:2222 ${wrong}` : o));
    assert.notDeepEqual(swapped, opts, "the kit pins the key in sshOpts");
    const tmp = fs.mkdtempSync(`${ctx.e2eDir}/tunnel-`);
    await assert.rejects(openTunnel({ inputs: { ...good.inputs, sshOpts: JSON.stringify(swapped) } }, tmp), /Host key verification failed/);
    // And with the kit's own options it connects.
    const t = await openTunnel(good, tmp);
    t.proc?.kill();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
}
