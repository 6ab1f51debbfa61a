/**
 * How the kit reaches an `ssh` target, and how it knows it is the right machine.
 *
 * The command provider's connection checks `hostKey` itself. The docker provider runs the
 * system `ssh` with only the kit's sshOpts (seen under the real engine), so the pinned key
 * must travel in those options: OpenSSH's `KnownHostsCommand` prints it, and every known_hosts
 * file is turned off. The options are the provider's configuration, stored in the stack's
 * state by the last update, so `pulumi refresh` and `pulumi destroy` (which do not run the
 * program) check the same key on any machine. A known_hosts file the program wrote was
 * missing there: "Host key verification failed".
 */
import type { Target } from "../settings";
import { renderTemplate, shellQuote } from "./templates";

type SshTarget = Extract<Target, { kind: "ssh" }>;

/** A known_hosts line: OpenSSH writes `[host]:port` for any port but 22. */
export function knownHostsLine(t: SshTarget & { hostKey: string }): string {
  const pattern = t.port === 22 ? t.host : `[${t.host}]:${t.port}`;
  return `${pattern} ${t.hostKey}`;
}

/**
 * Options for the docker provider's `ssh` (passed after its own -l and -p); `npm run status`,
 * `stickers` and the destroy guard use the same ones. OpenSSH 8.5 or newer (KnownHostsCommand).
 */
export function dockerSshOpts(t: SshTarget): string[] {
  const identity = t.identityFile ? ["-i", t.identityFile, "-o", "IdentitiesOnly=yes"] : [];
  const hostKey = t.hostKey
    ? [
        // ssh splits the command into words itself (no shell) and expands %-tokens, which
        // neither a validated host nor a base64 key contains; the path must be absolute.
        "-o", `KnownHostsCommand=/bin/echo ${knownHostsLine({ ...t, hostKey: t.hostKey })}`,
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
      ]
    : ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR"];
  return [...identity, "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", ...hostKey];
}

/** `ssh` with the docker provider's options: the argument list before the remote command. */
export function sshCommandArgs(t: SshTarget): string[] {
  return ["-p", String(t.port), "-l", t.user, ...dockerSshOpts(t), t.host];
}

/**
 * A command for this machine's shell that runs `script` on the target: over the docker provider's
 * ssh (its options, so the same pinned host key), or here for a local target. ssh joins its
 * remote words for the VPS's shell, so the script is quoted once for each shell.
 */
export function onTargetCommand(t: Target, script: string): string {
  const sh = `sh -c ${shellQuote(script)}`;
  return t.kind === "ssh" ? `${["ssh", ...sshCommandArgs(t)].map(shellQuote).join(" ")} ${shellQuote(sh)}` : sh;
}

const SCAN_TYPES: Record<string, string> = { "ssh-ed25519": "ed25519", "ssh-rsa": "rsa" };

/** The last line the host-key check prints when the VPS presents the configured key. */
export const HOST_KEY_OK = "matrix-kit: host key ok";

/**
 * The check run (locally, where `pulumi up` runs) before anything reaches the VPS. It prints
 * HOST_KEY_OK, or the kit's message and exits 0 so that the program shows that message alone
 * (a failed invoke would bury it in the invoke's own error, script included).
 */
export function hostKeyCheckScript(t: SshTarget & { hostKey: string }): string {
  const keyType = t.hostKey.split(" ")[0];
  return renderTemplate("host/check-host-key.sh.hbs", {
    host: t.host,
    port: t.port,
    hostKey: t.hostKey,
    keyType,
    scanType: SCAN_TYPES[keyType] ?? "ecdsa",
    ok: HOST_KEY_OK,
  });
}

/**
 * How the destroy guard runs its script: the command provider prints a failed command whole
 * before its output (`exit status 1: running "<command>":`), where the kit's own lines are what
 * the owner must read. So the command is this one short line, and the script travels in the
 * resource's environment, which the state keeps for a destroy from any machine.
 */
export const DESTROY_GUARD = { variable: "MATRIX_KIT_DESTROY_GUARD", command: 'eval "$MATRIX_KIT_DESTROY_GUARD"' } as const;

/**
 * The destroy guard's script: reaches the Docker engine the way the docker provider does (its
 * ssh options for an `ssh` target, the local socket otherwise), or fails naming the target and
 * saying that nothing was removed (ssh's CR LF taken out).
 */
export function reachDockerScript(t: Target, backupFirst?: { stack: string; script: string }): string {
  const word = (w: string) => (/^[\w\/.-]+$/.test(w) ? w : shellQuote(w));
  const onHost = (...cmd: string[]) => (t.kind === "ssh" ? ["ssh", ...sshCommandArgs(t), ...cmd].map(shellQuote) : cmd.map(word)).join(" ");
  const where = t.kind === "ssh" ? `${t.user}@${t.host} port ${t.port}` : "this machine";
  return renderTemplate("host/reach-docker.sh.hbs", {
    reach: onHost("docker"),
    where,
    serverVersion: "{{.Server.Version}}",
    backup: backupFirst ? onHost(backupFirst.script, "destroy") : null,
    stack: backupFirst?.stack,
  });
}
