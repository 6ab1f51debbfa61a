/**
 * How the kit reaches an `ssh` target, and how it knows it is the right machine.
 *
 * The command provider's connection checks `hostKey` itself. The docker provider
 * runs the system `ssh` with only the kit's sshOpts (seen under the real engine), so
 * the kit writes a known_hosts file holding just the VPS's key and names it there.
 * Without both, one path failed ("Host key verification failed") and the other
 * accepted any key (issue 7).
 */
import type { Target } from "../settings";
import { renderTemplate } from "./templates";

type SshTarget = Extract<Target, { kind: "ssh" }>;

/** Under the operator's home: one file per VPS address, written on every run by the check script. */
export function knownHostsFromHome(t: SshTarget): string {
  return `.ssh/matrix-kit/known_hosts-${t.host}-${t.port}`;
}

/** A known_hosts line: OpenSSH writes `[host]:port` for any port but 22. */
export function knownHostsLine(t: SshTarget & { hostKey: string }): string {
  const pattern = t.port === 22 ? t.host : `[${t.host}]:${t.port}`;
  return `${pattern} ${t.hostKey}`;
}

/**
 * Options for the docker provider's `ssh` (passed after its own -l and -p); `npm run status`
 * uses the same ones with a known_hosts file of its own.
 */
export function dockerSshOpts(t: SshTarget, knownHostsFile?: string): string[] {
  const identity = t.identityFile ? ["-i", t.identityFile, "-o", "IdentitiesOnly=yes"] : [];
  const hostKey = t.hostKey
    ? // ssh expands ~ in UserKnownHostsFile, so the option reads the same on every operator's machine.
      ["-o", `UserKnownHostsFile=${knownHostsFile ?? `~/${knownHostsFromHome(t)}`}`, "-o", "StrictHostKeyChecking=yes"]
    : ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"];
  return [...identity, "-o", "BatchMode=yes", ...hostKey];
}

const SCAN_TYPES: Record<string, string> = { "ssh-ed25519": "ed25519", "ssh-rsa": "rsa" };

/** The check run (locally, where `pulumi up` runs) before anything reaches the VPS. */
export function hostKeyCheckScript(t: SshTarget & { hostKey: string }): string {
  const keyType = t.hostKey.split(" ")[0];
  return renderTemplate("host/check-host-key.sh.hbs", {
    knownHostsFromHome: knownHostsFromHome(t),
    knownHostsLine: knownHostsLine(t),
    host: t.host,
    port: t.port,
    hostKey: t.hostKey,
    keyType,
    scanType: SCAN_TYPES[keyType] ?? "ecdsa",
  });
}
