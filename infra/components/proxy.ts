/** Host nginx: the kit's server blocks, tested with `nginx -t` before any reload, removed on destroy. */
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { installNginxSiteScript, removeNginxSiteScript } from "../render/host";
import { nginxSitePath, renderNginxSite } from "../render/nginx";
import type { Settings } from "../settings";

export interface ProxyArgs {
  settings: Settings;
  host: Host;
  /** Proxied services: the site goes live once they run. */
  dependsOn: pulumi.Resource[];
}

export class Proxy extends pulumi.ComponentResource {
  readonly sitePath: string;

  constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Proxy", name, {}, opts);
    const s = args.settings;
    this.sitePath = nginxSitePath(s);
    args.host.script(
      `${name}-site`,
      { create: installNginxSiteScript(s), delete: removeNginxSiteScript(s), stdin: renderNginxSite(s) },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.registerOutputs({ sitePath: this.sitePath });
  }
}
