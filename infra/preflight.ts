/**
 * What the program checks before it registers any resource, on every preview and update:
 * the VPS's host key, and settings that deploy fine but leave a server that cannot work.
 * A problem stops the run with the kit's own message and nothing else (a RunError prints
 * no stack trace), before any resource reaches the VPS (issue 15).
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HOST_KEY_OK, hostKeyCheckScript } from "./render/ssh";
import type { Settings } from "./settings";

export async function preflight(s: Settings): Promise<void> {
  // With federation off (matrix:federation.mode) there is no other server to reach us.
  if (!s.cloudflare.enabled && !s.nginx.tls && s.federation.mode !== "off") {
    pulumi.log.warn(
      `${s.domain} cannot federate: matrix:cloudflare.enabled is false and matrix:nginx.tls is not set, so nothing serves HTTPS, ` +
        `and other homeservers (and Element in a browser) only connect over TLS. Set matrix:nginx.tls to a certificate on the VPS, or enable matrix:cloudflare.`,
    );
  }
  if (!s.backup.enabled) {
    pulumi.log.warn(`nothing backs up ${s.domain}: matrix:backup.repository is not set, so a lost VPS or volume loses every conversation (README: Backup).`);
  } else if (s.backup.repository.startsWith("/")) {
    pulumi.log.warn(
      `matrix:backup.repository ${s.backup.repository} is a folder on the VPS itself: a lost VPS loses its backups with it. Use a repository on another machine (sftp:, rest:, s3:, b2: ...).`,
    );
  }
  const t = s.target;
  if (t.kind !== "ssh") return;
  if (!t.hostKey) {
    pulumi.log.warn(
      `matrix:target.hostKey is "insecure-accept-any": the ssh host key of ${t.host} is not checked, so anyone on the path can impersonate the VPS. Set it to the VPS's key (cat /etc/ssh/ssh_host_ed25519_key.pub on the VPS).`,
    );
    return;
  }
  // An invoke, so that it runs on preview too; it compares, and writes nothing. Not logged by the
  // provider: its words reach the user once, as the run's error (the real engine printed them twice).
  const check = await command.local.run({ command: hostKeyCheckScript({ ...t, hostKey: t.hostKey }), interpreter: ["/bin/sh", "-c"], logging: "none" });
  const lines = check.stdout.trim().split("\n");
  if (lines[lines.length - 1] !== HOST_KEY_OK) throw new pulumi.RunError(check.stdout.trim() || `matrix-kit: the host key check printed nothing: ${check.stderr}`);
}
