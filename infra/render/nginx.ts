/** Host nginx server blocks for the Matrix host (and the domain's discovery when Cloudflare is off). */
import { hostPath, type Settings } from "../settings";
import { acmePaths } from "./acme";
import { ownerNoticePort } from "./addresses";
import { clientWellKnown, serverWellKnown } from "./discovery";
import { federates } from "./federation";
import { renderTemplate } from "./templates";

export function renderNginxSite(s: Settings): string {
  const wellKnown = s.nginx.serveWellKnown;
  const noticePort = ownerNoticePort(s);
  return renderTemplate("nginx/site.conf.hbs", {
    stack: s.stack,
    domain: s.domain,
    matrixHost: s.matrixHost,
    httpPort: s.nginx.httpPort,
    tls: s.nginx.tls ?? false,
    acmeWebroot: s.acme.enabled ? acmePaths(s).webroot : false,
    maxUploadSize: s.synapse.maxUploadSize,
    federates: federates(s),
    synapsePort: s.synapse.hostPort,
    trustedProxies: s.nginx.trustedProxies,
    adminApiFrom: s.nginx.adminApiFrom,
    failNginxTest: s.testOnly.failNginxTest,
    wechat: s.wechat ?? false,
    // The bridges' queue's ear for the owner's requests (render/bridge-queue.ts).
    ownerMirror: noticePort === null ? false : { port: noticePort, upstream: `${s.namePrefix}-owner-notices` },
    stickersDir: s.stickers.enabled ? hostPath(s, "stickers") : false,
    // One domain for both: discovery lives in the Matrix host's own block.
    wellKnownOnMatrixHost: wellKnown && s.domain === s.matrixHost,
    wellKnownOnDomain: wellKnown && s.domain !== s.matrixHost,
    server: serverWellKnown(s),
    client: clientWellKnown(s),
  });
}

/** Where the site file lands on the host. */
export function nginxSitePath(s: Settings): string {
  return `${s.nginx.siteDir}/${s.nginx.fileName}`;
}
