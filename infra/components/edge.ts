/**
 * Cloudflare: the Matrix host's DNS record, the Worker answering <domain>/.well-known/matrix/*,
 * and what makes Cloudflare and the origin trust each other: the origin certificate from
 * Cloudflare's Origin CA (origin-certificate.ts), the zone's SSL mode Full (strict), and
 * authenticated origin pulls (nginx then requires the client certificate of Cloudflare's edge).
 * `checkApex()` says whether the Worker's route can fire, and can make a placeholder for it.
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import { OriginCertificate } from "./origin-certificate";
import { apexVerdict, type ApexRecord } from "../render/apex";
import { COMPATIBILITY_DATE, renderWorker, WORKER_MODULE, workerRoutePattern } from "../render/worker";
import type { CloudflareSettings, Settings } from "../settings";

export interface EdgeArgs {
  settings: Settings;
  cloudflare: Extract<CloudflareSettings, { enabled: true }>;
  apiToken: pulumi.Output<string>;
  host: Host;
  /** Nothing is sent to Cloudflare before these exist (the host's checks passed). */
  after: pulumi.Resource[];
}

export class Edge extends pulumi.ComponentResource {
  readonly wellKnownPattern: string;
  /** Done before host nginx serves its site: the certificate and the CA it reads, the zone's settings. */
  readonly originReady: pulumi.Resource[];
  /** When Cloudflare's origin certificate expires (nginx.tls.source "cloudflare"). */
  readonly originCertificateExpiresOn?: pulumi.Output<string>;
  private readonly provider: cloudflare.Provider;

  constructor(
    private readonly name: string,
    private readonly args: EdgeArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("kit:matrix:Edge", name, {}, opts);
    const s = args.settings;
    const cf = args.cloudflare;
    this.provider = new cloudflare.Provider(`${name}-provider`, { apiToken: args.apiToken }, { parent: this, dependsOn: args.after });
    const child = { parent: this, provider: this.provider };
    this.record(`${name}-matrix-host`, { name: s.matrixHost, type: cf.originAddress.includes(":") ? "AAAA" : "A", content: cf.originAddress, proxied: cf.proxied, what: "Synapse behind host nginx" });
    const script = new cloudflare.WorkersScript(
      `${name}-well-known`,
      { accountId: cf.accountId, scriptName: cf.workerName, content: renderWorker(s), mainModule: WORKER_MODULE, compatibilityDate: COMPATIBILITY_DATE },
      child,
    );
    this.wellKnownPattern = workerRoutePattern(s);
    new cloudflare.WorkersRoute(`${name}-well-known-route`, { zoneId: cf.zoneId, pattern: this.wellKnownPattern, script: cf.workerName }, { ...child, dependsOn: [script] });
    this.originReady = this.createOriginTrust(name);
    const origin = this.originReady.find((r): r is OriginCertificate => r instanceof OriginCertificate);
    this.originCertificateExpiresOn = origin?.expiresOn;
    this.registerOutputs({ wellKnownPattern: this.wellKnownPattern });
  }

  /** A DNS record of the kit's in the zone; its comment says whose it is (checkApex tells the kit's from the owner's). */
  private record(name: string, r: { name: string; type: string; content: string; proxied: boolean; what: string }): cloudflare.DnsRecord {
    const cf = this.args.cloudflare;
    return new cloudflare.DnsRecord(
      name,
      // ttl 1 = automatic (required for proxied records).
      { zoneId: cf.zoneId, name: r.name, type: r.type, content: r.content, proxied: r.proxied, ttl: 1, comment: `matrix-kit ${this.args.settings.stack}: ${r.what}` },
      { parent: this, provider: this.provider },
    );
  }

  /**
   * The origin certificate (Cloudflare's Origin CA), the client CA nginx checks Cloudflare's edge
   * against, and the zone's SSL mode and origin pulls. The zone's settings wait for the certificate
   * (Full (strict) with none at the origin fails every request), and nginx waits for them (a site
   * requiring the edge's client certificate before the edge sends one fails every request too).
   */
  private createOriginTrust(name: string): pulumi.Resource[] {
    const { settings: s, cloudflare: cf, host } = this.args;
    const child = { parent: this, provider: this.provider };
    const files: pulumi.Resource[] = [];
    if (s.tlsSource === "cloudflare") {
      files.push(new OriginCertificate(`${name}-origin`, { settings: s, cloudflare: cf, host, provider: this.provider }, { parent: this }));
    }
    const clientCa = s.nginx.tls?.clientCertificateCa;
    if (clientCa) {
      const owner = { uid: 0, gid: 0, mode: "0644" };
      files.push(new HostFile(`${name}-origin-pull-ca`, { host, root: s.hostDir, path: clientCa, content: cf.originPullCa, owner }, { parent: this }));
    }
    const zone: pulumi.Resource[] = [];
    if (cf.sslMode === "strict") {
      zone.push(new cloudflare.ZoneSetting(`${name}-ssl-strict`, { zoneId: cf.zoneId, settingId: "ssl", value: "strict" }, { ...child, dependsOn: files }));
    } else {
      pulumi.log.warn(`matrix:cloudflare.sslMode is "keep": the zone's SSL mode is left as you have it. Anything but Full (strict) lets Cloudflare reach the origin without checking its certificate.`, this);
    }
    if (cf.authenticatedOriginPulls) {
      // Global authenticated origin pulls: Cloudflare presents its own client certificate (the tls_client_auth setting).
      zone.push(new cloudflare.ZoneSetting(`${name}-origin-pulls`, { zoneId: cf.zoneId, settingId: "tls_client_auth", value: "on" }, { ...child, dependsOn: [...files, ...zone] }));
    }
    return [...files, ...zone];
  }

  /**
   * The Worker's route on <domain>/.well-known/matrix/* fires only where <domain> itself is proxied
   * by Cloudflare. Read from the zone on every preview and update: says which case it is, and with
   * matrix:cloudflare.apexRecord "placeholder" makes a proxied placeholder when the zone has no
   * record for <domain>. The owner's own records are never changed.
   */
  async checkApex(): Promise<void> {
    const { settings: s, cloudflare: cf } = this.args;
    const found = await cloudflare.getDnsRecords({ zoneId: cf.zoneId, name: { exact: s.domain } }, { provider: this.provider, parent: this });
    const records: ApexRecord[] = (found.results ?? []).map((r) => ({ type: r.type, content: r.content, proxied: r.proxied, comment: r.comment ?? "" }));
    const verdict = apexVerdict(s, cf, records);
    if (verdict.level === "warn") pulumi.log.warn(verdict.text, this);
    else pulumi.log.info(verdict.text, this);
    if (verdict.placeholder) this.record(`${this.name}-apex-placeholder`, { name: s.domain, type: "AAAA", content: "100::", proxied: true, what: "placeholder so the .well-known Worker's route fires" });
  }
}
