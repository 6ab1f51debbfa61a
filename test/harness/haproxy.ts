/** A REAL HAProxy (this machine's Debian package, as the e2e image has it) on a rendered config, for the render tests. */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as net from "node:net";

/** `haproxy -c` on the file, then HAProxy in the foreground, once it accepts connections on `port` (no fixed sleep). */
export async function startHaproxy(cfg: string, port: number): Promise<ChildProcess> {
  const check = spawnSync("haproxy", ["-c", "-f", cfg], { encoding: "utf8" });
  assert.equal(check.status, 0, `haproxy -c: ${check.stdout}${check.stderr}`);
  // Its log (stdout) is left out: the assertions say what passed.
  const haproxy = spawn("haproxy", ["-db", "-f", cfg], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) =>
      net
        .connect(port, "127.0.0.1")
        .on("connect", function (this: net.Socket) {
          this.end();
          resolve(true);
        })
        .on("error", () => resolve(false)),
    );
    if (ok) return haproxy;
    assert.ok(i < 100 && haproxy.exitCode === null, "haproxy did not start listening");
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopHaproxy(haproxy: ChildProcess | undefined): Promise<void> {
  if (!haproxy || haproxy.exitCode !== null) return;
  const exited = new Promise((resolve) => haproxy.once("exit", resolve));
  haproxy.kill("SIGTERM");
  await exited;
}
