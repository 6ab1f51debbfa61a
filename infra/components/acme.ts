/**
 * HTTPS from an ACME CA (render/acme.ts): certbot checked on the host, the kit's certificate
 * script and its cron entry. A one-day placeholder lets nginx load the site before the first
 * certificate; `issue()` obtains it once the site answers the CA's HTTP-01 check (the Proxy
 * component's site must be live first). Destroy removes the entry, the script, certbot's folders
 * and the certificate.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { acmeCronPath, acmeNames, acmePaths, renderAcmeCron, renderAcmeScript } from "../render/acme";
import { checkCertbotScript, removeFileScript } from "../render/host";
import { shellQuote } from "../render/templates";
import { hostPath, type AcmeSettings, type Settings } from "../settings";

export interface AcmeArgs {
  settings: Settings;
  acme: Extract<AcmeSettings, { enabled: true }>;
  host: Host;
}

export class Acme extends pulumi.ComponentResource {
  /** A certificate (the placeholder at first) is where nginx reads it: the site waits for this. */
  readonly placeholder: pulumi.Resource;
  private readonly script: HostFile;

  constructor(
    private readonly name: string,
    private readonly args: AcmeArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("kit:matrix:Acme", name, {}, opts);
    const s = args.settings;
    const p = acmePaths(s);
    const certbot = args.host.script(`${name}-certbot-check`, { create: checkCertbotScript() }, { parent: this });
    // Made by the runs (certbot's folders, the certificate, the result): removed after the files above them.
    const work = args.host.script(
      `${name}-work`,
      {
        create: "true",
        delete: [p.dir, p.stateDir, hostPath(s, "tls")].map((d) => removeFileScript(d, s.hostDir, { tree: true })).join("\n"),
      },
      { parent: this },
    );
    this.script = new HostFile(
      `${name}-script`,
      { host: args.host, root: s.hostDir, path: p.script, content: renderAcmeScript(s, args.acme), owner: { uid: 0, gid: 0, mode: "0700" } },
      { parent: this, dependsOn: [certbot, work] },
    );
    this.placeholder = args.host.script(`${name}-placeholder`, { create: `${shellQuote(p.script)} placeholder` }, { parent: this, dependsOn: [this.script] });
    this.registerOutputs({ script: p.script });
  }

  /** The first certificate, once `site` answers the CA's check; then the renewals' cron entry. Re-run when the names or the CA change. */
  issue(site: pulumi.Resource): void {
    const s = this.args.settings;
    const p = acmePaths(s);
    const issued = this.args.host.script(
      `${this.name}-issue`,
      { create: `${shellQuote(p.script)} issue`, triggers: [...acmeNames(s), this.args.acme.directoryUrl] },
      { parent: this, dependsOn: [site, this.script] },
    );
    new HostFile(
      `${this.name}-cron`,
      { host: this.args.host, root: null, path: acmeCronPath(s), content: renderAcmeCron(s, this.args.acme), owner: { uid: 0, gid: 0, mode: "0644" } },
      { parent: this, dependsOn: [issued] },
    );
  }
}
