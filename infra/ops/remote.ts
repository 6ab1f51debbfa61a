/**
 * Running operator commands' work on the stack's host: a shell script with `sh -s` locally or
 * over ssh with the docker provider's options (the stack's host key pinned in them), and a
 * local port forwarded to a port on the host's loopback (Synapse's
 * admin API is published on 127.0.0.1 only and never proxied).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { sshCommandArgs } from "../render/ssh";
import type { Target } from "../settings";

export class HostError extends Error {}

/**
 * Runs `script` on the target (`what` names it in errors); resolves with its stdout. `onLine`
 * gets each stdout line as it comes (progress of long work).
 */
export async function runOnHost(target: Target, script: string, what: string, timeoutMs = 60_000, onLine?: (line: string) => void): Promise<string> {
  const run = (cmd: string, args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], timeout: timeoutMs });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let partial = "";
      child.stdout.on("data", (d: Buffer) => {
        out.push(d);
        if (!onLine) return;
        const lines = (partial + d.toString()).split("\n");
        partial = lines.pop()!;
        lines.forEach(onLine);
      });
      child.stderr.on("data", (d: Buffer) => err.push(d));
      child.on("error", (e) => reject(new HostError(`${cmd}: ${e.message}`)));
      child.on("close", (code, signal) => {
        const stderr = Buffer.concat(err).toString().trim();
        if (code === 0) resolve(Buffer.concat(out).toString());
        else if (target.kind === "ssh" && code === 255)
          reject(new HostError(`ssh to ${target.user}@${target.host}:${target.port} failed: ${stderr || "no message"}`));
        else reject(new HostError(`${what} ${signal ? `was stopped by ${signal}` : `exited with ${code}`}: ${stderr}`));
      });
      child.stdin.end(script);
    });
  if (target.kind === "local") return run("sh", ["-s"]);
  return run("ssh", [...sshCommandArgs(target), "sh -s"]);
}

export interface Tunnel {
  /** A base URL on this machine that reaches 127.0.0.1:<port> on the host. */
  url: string;
  close(): void;
}

/** A local port forwarded to the host's 127.0.0.1:<port> (ssh -L), or that port itself for a local target. */
export async function openTunnel(target: Target, port: number): Promise<Tunnel> {
  if (target.kind === "local") return { url: `http://127.0.0.1:${port}`, close: () => undefined };
  const local = await freePort();
  const child: ChildProcess = spawn("ssh", ["-N", "-o", "ExitOnForwardFailure=yes", "-L", `127.0.0.1:${local}:127.0.0.1:${port}`, ...sshCommandArgs(target)], { stdio: ["ignore", "ignore", "pipe"] });
  const close = () => void child.kill();
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  // Up once the forwarded port accepts a connection; ssh exiting first is the failure.
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) break;
    if (await canConnect(local)) return { url: `http://127.0.0.1:${local}`, close };
    await new Promise((r) => setTimeout(r, 200));
  }
  close();
  throw new HostError(`ssh to ${target.user}@${target.host}:${target.port} could not forward a port to the host's 127.0.0.1:${port}: ${stderr.trim() || "no answer"}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}
