/**
 * Host nginx's certificate from Cloudflare's Origin CA (matrix:nginx.tls.source "cloudflare"):
 * a key and a request made with @pulumi/tls (the key is a Pulumi secret, kept in the stack's state
 * and in a 0600 root-owned file on the VPS), the certificate from Cloudflare's API, both placed
 * where nginx reads them. Replaced well before it expires: see rotationWindow.
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { Host } from "./host";
import { HostFile } from "./host-file";
import type { CloudflareSettings, Settings } from "../settings";

type Enabled = Extract<CloudflareSettings, { enabled: true }>;

const DAY_MS = 24 * 3600 * 1000;

/**
 * Which renewal window today is in: a new window every `validityDays - renewBeforeDays` days since
 * the epoch. The key is replaced when the window changes, and the certificate with it: one made in
 * a window is at most that many days old when the next window starts, so the first update in the
 * next window replaces it with at least `renewBeforeDays` days to spare (`npm run status` warns when
 * no update came and fewer than 14 days are left).
 */
export function rotationWindow(c: Enabled["originCertificate"], now = Date.now()): string {
  return `window-${Math.floor(now / DAY_MS / (c.validityDays - c.renewBeforeDays))}`;
}

export interface OriginCertificateArgs {
  settings: Settings;
  cloudflare: Enabled;
  host: Host;
  provider: cloudflare.Provider;
}

export class OriginCertificate extends pulumi.ComponentResource {
  /** The files nginx reads, on the host: the site waits for them. */
  readonly files: HostFile[];
  readonly expiresOn: pulumi.Output<string>;

  constructor(name: string, args: OriginCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kit:matrix:OriginCertificate", name, {}, opts);
    const s = args.settings;
    const tlsPaths = s.nginx.tls!;
    const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this, replacementTrigger: rotationWindow(args.cloudflare.originCertificate) });
    const request = new tls.CertRequest(
      `${name}-request`,
      { privateKeyPem: key.privateKeyPem, subject: { commonName: s.matrixHost, organization: "matrix-kit" }, dnsNames: [s.matrixHost] },
      { parent: this },
    );
    const certificate = new cloudflare.OriginCaCertificate(
      `${name}-certificate`,
      { csr: request.certRequestPem, hostnames: [s.matrixHost], requestType: "origin-ecc", requestedValidity: args.cloudflare.originCertificate.validityDays },
      { parent: this, provider: args.provider },
    );
    this.expiresOn = certificate.expiresOn;
    const file = (id: string, path: string, content: pulumi.Input<string>, mode: string) =>
      new HostFile(`${name}-${id}`, { host: args.host, root: s.hostDir, path, content, owner: { uid: 0, gid: 0, mode } }, { parent: this });
    this.files = [
      file("key-file", tlsPaths.certificateKey, pulumi.secret(key.privateKeyPem), "0600"),
      file("certificate-file", tlsPaths.certificate, certificate.certificate, "0644"),
    ];
    this.registerOutputs({ expiresOn: this.expiresOn });
  }
}
