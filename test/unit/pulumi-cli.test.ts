/**
 * `npm run up`'s Pulumi CLI step (infra/cli/pulumi-cli.sh) as a real process: with no
 * network path to the installer it stops with one clear line; with an installer it runs
 * it for the pinned version into the kit's folder. The installer here is a STAND-IN for
 * get.pulumi.com served on loopback (this machine cannot reach the real one); it records
 * its arguments and writes a `pulumi` that prints the version it was asked for.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "../..");
const PINNED = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).config.pulumiCli as string;
// A PATH with node, curl and sh but no pulumi.
const PATH = ["/usr/local/bin", "/usr/bin", "/bin"].filter((d) => !fs.existsSync(path.join(d, "pulumi"))).join(":");

function cliStep(env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn("bash", [path.join(ROOT, "infra/cli/pulumi-cli.sh")], { env: { ...process.env, PATH, ...env } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

test("the pinned CLI version is a plain semver next to the SDK versions", () => {
  assert.match(PINNED, /^3\.[0-9]+\.[0-9]+$/);
});

test("no way to download the CLI: exit 1 and one line saying so and what to do", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-cli-"));
  const r = await cliStep({ PULUMI_CLI_DIR: dir, PULUMI_INSTALLER_URL: "http://127.0.0.1:9/install.sh" });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, "");
  const last = r.stderr.trim().split("\n").at(-1)!;
  assert.equal(
    last,
    `npm run up: the Pulumi CLI ${PINNED} is not installed and could not be downloaded from http://127.0.0.1:9/install.sh: install it (https://www.pulumi.com/docs/install/) or put a copy on PATH, then run npm run up again.`,
  );
  fs.rmSync(dir, { recursive: true });
});

test("with the installer reachable (stand-in): runs it for the pinned version into the kit's folder, then reuses that copy", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-cli-"));
  const log = path.join(dir, "installer-args");
  const installer = `#!/bin/sh
echo "$@" > '${log}'
root=""; version=""
while [ $# -gt 0 ]; do case $1 in --install-root) root=$2; shift;; --version) version=$2; shift;; esac; shift; done
mkdir -p "$root/bin"
printf '#!/bin/sh\\necho v%s\\n' "$version" > "$root/bin/pulumi"
chmod +x "$root/bin/pulumi"
`;
  const server = http.createServer((_req, res) => res.end(installer));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  try {
    const cliDir = path.join(dir, "cli");
    const r = await cliStep({ PULUMI_CLI_DIR: cliDir, PULUMI_INSTALLER_URL: url });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), path.join(cliDir, "bin/pulumi"));
    assert.equal(fs.readFileSync(log, "utf8").trim(), `--version ${PINNED} --install-root ${cliDir} --no-edit-path`);
    fs.rmSync(log);
    const again = await cliStep({ PULUMI_CLI_DIR: cliDir, PULUMI_INSTALLER_URL: url });
    assert.equal(again.stdout.trim(), path.join(cliDir, "bin/pulumi"));
    assert.equal(fs.existsSync(log), false, "the installer is not run again for the pinned version");
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true });
  }
});
