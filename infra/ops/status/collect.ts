/**
 * Collects a deployment's status on its host: the read-only script
 * templates/host/status.sh.hbs, run with `sh -s` locally or over ssh with the
 * stack's host key (the same check `pulumi up` makes, without writing the
 * kit's known_hosts), and its output as text for parse.ts.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderTemplate } from "../../render/templates";
import { dockerSshOpts, knownHostsLine } from "../../render/ssh";
import { containerName, enabledBridges, volumeName, type Settings, type Target } from "../../settings";

/** What the script looks at: the stack's containers, its Synapse volume (or a directory) and PostgreSQL. */
export interface StatusSubject {
  containers: string[];
  /** A volume name, or an absolute host path when /data is a bind mount. */
  synapseData: string;
  postgres: string;
  postgresUser: string;
}

export function subjectFromSettings(s: Settings): StatusSubject {
  return {
    containers: [
      containerName(s, "postgres"),
      containerName(s, "synapse"),
      ...enabledBridges(s).map((b) => containerName(s, b.kind)),
      ...(s.watchdog.enabled && enabledBridges(s).length > 0 ? [containerName(s, "watchdog")] : []),
    ],
    synapseData: volumeName(s, "synapse"),
    postgres: containerName(s, "postgres"),
    postgresUser: s.postgres.user,
  };
}

/** Go templates for docker's --format, kept out of the shell template's own braces. */
const FORMATS = {
  inspectFormat: "{{.State.Status}}\t{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}\t{{.RestartCount}}\t{{.State.OOMKilled}}\t{{.State.StartedAt}}",
  idFormat: "{{.Id}}",
  mountpointFormat: "{{.Mountpoint}}",
  dockerRootFormat: "{{.DockerRootDir}}",
};

export function statusScript(subject: StatusSubject): string {
  return renderTemplate("host/status.sh.hbs", { ...subject, ...FORMATS });
}

/** ssh arguments for a target: the docker provider's options, its host key pinned in a throwaway known_hosts. */
export function sshArgs(target: Extract<Target, { kind: "ssh" }>, knownHostsFile: string): string[] {
  return ["-p", String(target.port), "-l", target.user, "-o", "ConnectTimeout=15", ...dockerSshOpts(target, knownHostsFile), target.host];
}

export class CollectError extends Error {}

/** Runs the script on the target; resolves with its stdout, or rejects with what went wrong there. */
export async function collect(target: Target, script: string, timeoutMs = 60_000): Promise<string> {
  let tmp: string | undefined;
  let cmd = "sh";
  let args = ["-s"];
  if (target.kind === "ssh") {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "matrix-kit-status-"));
    const known = path.join(tmp, "known_hosts");
    if (target.hostKey !== null) fs.writeFileSync(known, `${knownHostsLine({ ...target, hostKey: target.hostKey })}\n`);
    cmd = "ssh";
    args = [...sshArgs(target, known), "sh -s"];
  }
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], timeout: timeoutMs });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.on("data", (d: Buffer) => err.push(d));
      child.on("error", (e) => reject(new CollectError(`${cmd}: ${e.message}`)));
      child.on("close", (code, signal) => {
        const stderr = Buffer.concat(err).toString().trim();
        if (code === 0) resolve(Buffer.concat(out).toString());
        else if (target.kind === "ssh" && code === 255)
          reject(new CollectError(`ssh to ${target.user}@${target.host}:${target.port} failed: ${stderr || "no message"}`));
        else reject(new CollectError(`the status script ${signal ? `was stopped by ${signal}` : `exited with ${code}`}: ${stderr}`));
      });
      child.stdin.end(script);
    });
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}
