/** Cloudflare: the Matrix host's DNS record, and the Worker answering <domain>/.well-known/matrix/*. */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { COMPATIBILITY_DATE, renderWorker, WORKER_MODULE, workerRoutePattern } from "../render/worker";
import type { CloudflareSettings, Settings } from "../settings";

export interface EdgeArgs {
  settings: Settings;
  cloudflare: Extract<CloudflareSettings, { enabled: true }>;
  apiToken: pulumi.Output<string>;
  /** Nothing is sent to Cloudflare before these exist (the host's checks passed). */
  after: pulumi.Resource[];
}

export class Edge extends pulumi.ComponentResource {
  readonly wellKnownPattern: string;

  constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:Edge", name, {}, opts);
    const s = args.settings;
    const cf = args.cloudflare;
    const provider = new cloudflare.Provider(`${name}-provider`, { apiToken: args.apiToken }, { parent: this, dependsOn: args.after });
    const child = { parent: this, provider };
    new cloudflare.DnsRecord(
      `${name}-matrix-host`,
      {
        zoneId: cf.zoneId,
        name: s.matrixHost,
        type: cf.originAddress.includes(":") ? "AAAA" : "A",
        content: cf.originAddress,
        proxied: cf.proxied,
        // 1 = automatic (required for proxied records).
        ttl: 1,
        comment: `matrix-kit ${s.stack}: Synapse behind host nginx`,
      },
      child,
    );
    const script = new cloudflare.WorkersScript(
      `${name}-well-known`,
      {
        accountId: cf.accountId,
        scriptName: cf.workerName,
        content: renderWorker(s),
        mainModule: WORKER_MODULE,
        compatibilityDate: COMPATIBILITY_DATE,
      },
      child,
    );
    this.wellKnownPattern = workerRoutePattern(s);
    new cloudflare.WorkersRoute(
      `${name}-well-known-route`,
      { zoneId: cf.zoneId, pattern: this.wellKnownPattern, script: cf.workerName },
      { ...child, dependsOn: [script] },
    );
    this.registerOutputs({ wellKnownPattern: this.wellKnownPattern });
  }
}
