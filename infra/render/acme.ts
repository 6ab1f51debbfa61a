/**
 * HTTPS from an ACME CA (matrix:nginx.tls.source "acme"): Debian's certbot on the VPS, HTTP-01
 * answered by host nginx from a folder of the kit's, renewed by cron; the script places each new
 * certificate at nginx's paths only after `nginx -t` (templates/acme/certificate.sh.hbs). Pure:
 * settings in, file texts out.
 */
import { hostPath, type AcmeSettings, type Settings } from "../settings";
import { renderTemplate } from "./templates";

type Enabled = Extract<AcmeSettings, { enabled: true }>;

/** Where the script, certbot's own folders, the challenge folder and the result live on the host. */
export function acmePaths(s: Settings) {
  const dir = hostPath(s, "acme");
  return {
    dir,
    script: `${dir}/certificate.sh`,
    webroot: `${dir}/webroot`,
    configDir: `${dir}/certbot`,
    workDir: `${dir}/certbot-work`,
    logsDir: `${dir}/certbot-logs`,
    stateDir: hostPath(s, "acme-state"),
    statusFile: `${hostPath(s, "acme-state")}/last.json`,
  };
}

/** The names the certificate holds: the Matrix host, and <domain> when nginx serves its discovery too. */
export function acmeNames(s: Settings): string[] {
  return [s.matrixHost, ...(s.nginx.serveWellKnown && s.domain !== s.matrixHost ? [s.domain] : [])];
}

/** cron ignores files in /etc/cron.d whose names contain a dot: the prefix has none. */
export function acmeCronPath(s: Settings): string {
  return `/etc/cron.d/${s.namePrefix}-acme`;
}

export function acmeLogPath(s: Settings): string {
  return `/var/log/${s.namePrefix}-acme.log`;
}

export function renderAcmeScript(s: Settings, a: Enabled): string {
  const p = acmePaths(s);
  const tls = s.nginx.tls!;
  return renderTemplate("acme/certificate.sh.hbs", {
    stack: s.stack,
    ...p,
    certificate: tls.certificate,
    certificateKey: tls.certificateKey,
    certName: s.matrixHost,
    names: acmeNames(s),
    subject: `/CN=${s.matrixHost}`,
    directoryUrl: a.directoryUrl,
    email: a.email,
    caBundle: a.caBundle,
    testCommand: s.nginx.testCommand,
    reloadCommand: s.nginx.reloadCommand,
  });
}

export function renderAcmeCron(s: Settings, a: Enabled): string {
  return renderTemplate("acme/cron.hbs", { stack: s.stack, schedule: a.schedule, run: acmePaths(s).script, log: acmeLogPath(s) });
}
