/**
 * What the program checks before it registers any resource, on every preview and update:
 * the VPS's host key, that the VPS can open the backup repository, and settings that deploy
 * fine but leave a server that cannot work. A problem stops the run with the kit's own message
 * and nothing else (a RunError prints no stack trace), before any resource reaches the VPS.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { openRepositoryScript, REPOSITORY_OK } from "./render/backup";
import { HOST_KEY_OK, hostKeyCheckScript, onTargetCommand } from "./render/ssh";
import type { SecretConfig } from "./config/load";
import { apiTokenProblem } from "./config/tls";
import type { Secrets } from "./secrets";
import type { Settings } from "./settings";

/**
 * A check run where `pulumi up` runs, as an invoke so that it runs on preview too. Not logged by
 * the provider: its words reach the user once, as the run's error (the real engine printed them
 * twice). The check prints `ok` last when all is well, and the kit's message otherwise.
 */
async function check(script: string, ok: string, stdin?: string): Promise<void> {
  const r = await command.local.run({ command: script, interpreter: ["/bin/sh", "-c"], logging: "none", ...(stdin !== undefined ? { stdin } : {}) });
  const lines = r.stdout.trim().split("\n");
  if (lines[lines.length - 1] !== ok) throw new pulumi.RunError(r.stdout.trim() || `matrix-kit: a check before the update printed nothing: ${r.stderr}`);
}

/** A secret's value, for a check that must run before any resource (it is never logged). */
const valueOf = (v: pulumi.Output<string>) => new Promise<string>((resolve) => v.apply(resolve));

export async function preflight(s: Settings, secrets: pulumi.Output<Secrets>, cfg: SecretConfig): Promise<void> {
  if (s.cloudflare.enabled) {
    if (!cfg.cloudflareApiToken) throw new pulumi.RunError("matrix:cloudflareApiToken is required when matrix:cloudflare.enabled is true");
    const problem = apiTokenProblem(await valueOf(cfg.cloudflareApiToken));
    if (problem) throw new pulumi.RunError(problem);
  }
  // With federation off (matrix:federation.mode) there is no other server to reach us.
  if (!s.cloudflare.enabled && !s.nginx.tls && s.federation.mode !== "off") {
    pulumi.log.warn(
      `${s.domain} cannot federate: matrix:cloudflare.enabled is false and matrix:nginx.tls.source is "none", so nothing serves HTTPS, ` +
        `and other homeservers (and Element in a browser) only connect over TLS. Set matrix:nginx.tls.source to "acme" (a certificate from Let's Encrypt, for a VPS with a public name), or enable matrix:cloudflare.`,
    );
  }
  if (!s.backup.enabled) {
    pulumi.log.warn(`nothing backs up ${s.domain}: matrix:backup.repository is not set, so a lost VPS or volume loses every conversation (see Backups in docs/operations.md).`);
  } else if (s.backup.repository.startsWith("/")) {
    pulumi.log.warn(
      `matrix:backup.repository ${s.backup.repository} is a folder on the VPS itself: a lost VPS loses its backups with it. Use a repository on another machine (sftp:, rest:, s3:, b2: ...).`,
    );
  }
  const t = s.target;
  if (t.kind === "ssh" && !t.hostKey) {
    pulumi.log.warn(
      `matrix:target.hostKey is "insecure-accept-any": the ssh host key of ${t.host} is not checked, so anyone on the path can impersonate the VPS. Set it to the VPS's key (cat /etc/ssh/ssh_host_ed25519_key.pub on the VPS).`,
    );
  } else if (t.kind === "ssh" && t.hostKey) {
    await check(hostKeyCheckScript({ ...t, hostKey: t.hostKey }), HOST_KEY_OK);
  }
  if (s.backup.enabled) {
    // After the host key: the repository check reaches the VPS. An update initialises a new repository.
    const password = await valueOf(secrets.apply((x) => x.backupPassword));
    await check(onTargetCommand(t, openRepositoryScript(s.backup, !pulumi.runtime.isDryRun())), REPOSITORY_OK, password);
  }
}
