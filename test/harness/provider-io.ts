/**
 * How the apply harness's stand-in providers reach the machine, shared by apply, refresh and
 * destroy (test/harness/apply.ts, test/harness/lifecycle.ts): the docker provider's ssh
 * connection made from its stored configuration, the command provider's ssh connection, and
 * running a script. Part of the MOCK-RUNTIME APPLY HARNESS (see apply.ts for what differs
 * from the real engine and providers).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface Connection {
  host: string;
  port?: number;
  user?: string;
  privateKey: string;
  hostKey?: string;
}

/**
 * The command provider's connection as ssh arguments: its key, and its host-key rule
 * (a fixed key when `hostKey` is set; otherwise any key, as the provider does).
 */
export function commandSsh(conn: Connection, tmp: string, id: string): string[] {
  const keyFile = path.join(tmp, `${id}.key`);
  fs.writeFileSync(keyFile, conn.privateKey.endsWith("\n") ? conn.privateKey : `${conn.privateKey}\n`, { mode: 0o600 });
  const port = conn.port ?? 22;
  let hostKey = ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR"];
  if (conn.hostKey) {
    const known = path.join(tmp, `${id}.known_hosts`);
    fs.writeFileSync(known, `${port === 22 ? conn.host : `[${conn.host}]:${port}`} ${conn.hostKey}\n`);
    hostKey = ["-o", `UserKnownHostsFile=${known}`, "-o", "StrictHostKeyChecking=yes"];
  }
  return ["-i", keyFile, "-p", String(port), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", ...hostKey, `${conn.user ?? "root"}@${conn.host}`];
}

/** Go's %q of a string, as the command provider quotes a failed command (ASCII; other characters are left as they are). */
export function goQuote(text: string): string {
  const escapes: Record<string, string> = { "\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r" };
  return `"${text.replace(/[\\"\n\t\r\x00-\x1f\x7f]/g, (c) => escapes[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}"`;
}

/**
 * A command resource's create or delete, failing as the command provider v1.2.1 does
 * (provider/pkg/provider/{local,remote}/commandOutputs.go): `<exit error>: running "<command>":`
 * then what the command printed. Local commands end with Go's exec error ("exit status N"), remote
 * ones with the ssh session's ("Process exited with status N"). Differences: the output is stdout
 * then stderr, where the provider interleaves them as they arrive.
 */
export function runCommand(kind: "local" | "remote", argv: string[], command: string, stdin: string | undefined, env?: Record<string, string>): { stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, [...argv.slice(1), command], { input: stdin ?? "", encoding: "utf8", timeout: 600_000, env: { ...process.env, ...env } });
  if (r.status !== 0) {
    const status = kind === "local" ? (r.signal ? `signal: ${r.signal === "SIGKILL" ? "killed" : r.signal}` : `exit status ${r.status}`) : `Process exited with status ${r.status}`;
    throw new Error(`${status}: running ${goQuote(command)}:\n${r.stdout}${r.stderr}`);
  }
  return { stdout: r.stdout, stderr: r.stderr };
}

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/**
 * The docker provider's connection from its configuration (`host`, `sshOpts` as the engine
 * passes them: JSON text): a local socket, or the provider's `ssh` with only its options.
 */
export async function openTunnel(r: { inputs: Record<string, any> }, tmp: string): Promise<{ socket: string; proc?: ChildProcess }> {
  const host = String(r.inputs.host);
  if (host.startsWith("unix://")) return { socket: host.slice("unix://".length) };
  const m = /^ssh:\/\/([^@]+)@([^:]+):(\d+)$/.exec(host);
  if (!m) throw new Error(`harness: unsupported docker host ${host}`);
  const sshOpts: string[] = r.inputs.sshOpts ? JSON.parse(r.inputs.sshOpts) : [];
  const socket = path.join(tmp, "docker.sock");
  fs.rmSync(socket, { force: true });
  // The provider runs `ssh -l user -p port <sshOpts> -T -- host docker system dial-stdio`:
  // the same ssh, options and checks here, forwarding the engine's socket instead.
  const proc = spawn(
    "ssh",
    ["-l", m[1], "-p", m[3], ...sshOpts, "-o", "ExitOnForwardFailure=yes", "-N", "-L", `${socket}:/var/run/docker.sock`, "--", m[2]],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  let exited: number | null = null;
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  proc.on("exit", (code) => (exited = code ?? -1));
  await waitFor(`the ssh connection to ${host}`, 30_000, async () => {
    if (exited !== null) throw new Error(`the docker provider's ssh to ${host} failed (exit ${exited}): ${err.trim()}`);
    return fs.existsSync(socket);
  });
  return { socket, proc };
}
