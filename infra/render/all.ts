/**
 * Every file the kit places, by where it lands (paths relative to /), and the
 * plan: what `npm run render` writes and what the render tests validate.
 */
import type { Secrets } from "../secrets";
import { enabledBridges, hostPath, type Settings } from "../settings";
import { renderBridgeConfig, renderDoublePuppetRegistration, renderRegistration } from "./bridges";
import { DOUBLE_PUPPET } from "./addresses";
import { budgetTable } from "../config/budget";
import { cpuBudgetTable } from "../config/cpu-budget";
import { backupCronPath, backupPaths, renderBackupCron, renderBackupPassword, renderBackupScript, renderRestoreScript } from "./backup";
import { bridgeSpec, postgresSpec, renderPostgresPassword, synapseSpec } from "./containers";
import { type ContainerSpec } from "./container-spec";
import { appserviceHostPath, renderHomeserver, renderSynapseLogConfig } from "./homeserver";
import { nginxSitePath, renderNginxSite } from "./nginx";
import { acmeCronPath, acmePaths, renderAcmeCron, renderAcmeScript } from "./acme";
import { adminAccountFile, renderUpkeepConfig, renderUpkeepCron, renderUpkeepRunScript, upkeepCronPath } from "./upkeep";
import { renderWatchdogConfig, watchdogSpec } from "./watchdog";
import { bridgeQueueSpec, renderBridgeQueueAdmission, renderBridgeQueueConfig } from "./bridge-queue";
import { dockerFilterSpec, renderDockerFilterConfig } from "./docker-filter";
import { COMPATIBILITY_DATE, renderWorker, WORKER_MODULE, workerRoutePattern } from "./worker";

export type FileKind = "yaml" | "json" | "nginx" | "worker" | "key" | "shell" | "cron" | "haproxy" | "lua" | "pem";

export interface RenderedFile {
  /** Absolute path on the host, or cloudflare/<name> for what goes to Cloudflare. */
  path: string;
  kind: FileKind;
  content: string;
}

export function renderFiles(s: Settings, sec: Secrets): RenderedFile[] {
  const files: RenderedFile[] = [
    { path: hostPath(s, "postgres", "password"), kind: "key", content: renderPostgresPassword(sec) },
    { path: hostPath(s, "synapse", "homeserver.yaml"), kind: "yaml", content: renderHomeserver(s, sec) },
    { path: hostPath(s, "synapse", "log.config"), kind: "yaml", content: renderSynapseLogConfig(s) },
    { path: hostPath(s, "synapse", "signing.key"), kind: "key", content: sec.signingKey },
  ];
  for (const b of enabledBridges(s)) {
    // One registration, placed twice: Synapse loads it, the bridge reads its own copy.
    const registration = renderRegistration(s, b, sec);
    files.push({ path: appserviceHostPath(s, b.kind), kind: "yaml", content: registration });
    files.push({ path: hostPath(s, b.kind, "config.yaml"), kind: "yaml", content: renderBridgeConfig(s, b, sec) });
    files.push({ path: hostPath(s, b.kind, "registration.yaml"), kind: "yaml", content: registration });
  }
  if (s.bridgeQueue.enabled) {
    files.push({ path: hostPath(s, "bridge-queue", "haproxy.cfg"), kind: "haproxy", content: renderBridgeQueueConfig(s, s.bridgeQueue) });
    const admission = renderBridgeQueueAdmission(s.bridgeQueue);
    if (admission !== null) files.push({ path: hostPath(s, "bridge-queue", "admission.lua"), kind: "lua", content: admission });
  }
  files.push({ path: appserviceHostPath(s, DOUBLE_PUPPET.id), kind: "yaml", content: renderDoublePuppetRegistration(s, sec) });
  if (s.watchdog.enabled && enabledBridges(s).length > 0) {
    files.push({ path: hostPath(s, "watchdog", "config.json"), kind: "json", content: renderWatchdogConfig(s, s.watchdog, sec) });
    files.push({ path: hostPath(s, "docker-filter", "haproxy.cfg"), kind: "haproxy", content: renderDockerFilterConfig(s) });
  }
  files.push({ path: hostPath(s, "admin", "account.json"), kind: "json", content: adminAccountFile(s, sec) });
  if (s.upkeep.enabled) {
    files.push({ path: hostPath(s, "upkeep", "config.json"), kind: "json", content: renderUpkeepConfig(s, s.upkeep, sec) });
    files.push({ path: hostPath(s, "upkeep", "run.sh"), kind: "shell", content: renderUpkeepRunScript(s, s.upkeep) });
    files.push({ path: upkeepCronPath(s), kind: "cron", content: renderUpkeepCron(s, s.upkeep) });
  }
  if (s.backup.enabled) {
    const p = backupPaths(s);
    files.push({ path: p.script, kind: "shell", content: renderBackupScript(s, s.backup) });
    files.push({ path: p.restore, kind: "shell", content: renderRestoreScript(s, s.backup) });
    files.push({ path: p.passwordFile, kind: "key", content: renderBackupPassword(sec.backupPassword) });
    files.push({ path: backupCronPath(s), kind: "cron", content: renderBackupCron(s, s.backup) });
  }
  if (s.acme.enabled) {
    files.push({ path: acmePaths(s).script, kind: "shell", content: renderAcmeScript(s, s.acme) });
    files.push({ path: acmeCronPath(s), kind: "cron", content: renderAcmeCron(s, s.acme) });
  }
  // Cloudflare's origin certificate and its key come from Cloudflare's API and @pulumi/tls at `pulumi up`: not renderable here.
  if (s.cloudflare.enabled && s.nginx.tls?.clientCertificateCa) files.push({ path: s.nginx.tls.clientCertificateCa, kind: "pem", content: s.cloudflare.originPullCa });
  files.push({ path: nginxSitePath(s), kind: "nginx", content: renderNginxSite(s) });
  if (s.cloudflare.enabled) files.push({ path: `cloudflare/${WORKER_MODULE}`, kind: "worker", content: renderWorker(s) });
  return files;
}

export function containerSpecs(s: Settings): ContainerSpec[] {
  const bridges = enabledBridges(s);
  const watchdog = s.watchdog.enabled && bridges.length > 0 ? [dockerFilterSpec(s, s.watchdog), watchdogSpec(s, s.watchdog)] : [];
  const queue = s.bridgeQueue.enabled ? [bridgeQueueSpec(s, s.bridgeQueue)] : [];
  return [postgresSpec(s), synapseSpec(s), ...queue, ...bridges.map((b) => bridgeSpec(s, b)), ...watchdog];
}

/** plan.json: each container and Cloudflare resource, with env names but never secret values. */
export function plan(s: Settings): Record<string, unknown> {
  return {
    stack: s.stack,
    domain: s.domain,
    matrixHost: s.matrixHost,
    target: s.target.kind === "ssh" ? `ssh://${s.target.user}@${s.target.host}:${s.target.port}` : "local",
    containers: containerSpecs(s).map((c) => ({
      name: c.name,
      image: c.image,
      network: c.network,
      ...(c.extraNetworks ? { extraNetworks: c.extraNetworks } : {}),
      ...(c.user ? { user: c.user } : {}),
      ports: c.ports.map((p) => `${p.ip}:${p.external}->${p.internal}/tcp`),
      env: c.env.map((e) => e.name),
      volumes: c.volumes.map((v) => `${v.volumeName ?? v.hostPath}:${v.containerPath}${v.readOnly ? ":ro" : ""}`),
      memoryLimitBytes: c.memoryBytes,
      cpus: c.cpu.cpus,
      cpuShares: c.cpu.shares,
      ...(c.entrypoint ? { entrypoint: c.entrypoint } : {}),
      ...(c.command ? { command: c.command } : {}),
      healthcheck: c.healthcheck.tests,
      restart: c.restart,
    })),
    cloudflare: s.cloudflare.enabled
      ? [
          { type: "DnsRecord", name: s.matrixHost, content: s.cloudflare.originAddress, proxied: s.cloudflare.proxied },
          { type: "WorkersScript", name: s.cloudflare.workerName, mainModule: WORKER_MODULE, compatibilityDate: COMPATIBILITY_DATE },
          { type: "WorkersRoute", pattern: workerRoutePattern(s), script: s.cloudflare.workerName },
          ...(s.tlsSource === "cloudflare"
            ? [{ type: "OriginCaCertificate", hostnames: [s.matrixHost], requestType: "origin-ecc", requestedValidity: s.cloudflare.originCertificate.validityDays }]
            : []),
          ...(s.cloudflare.sslMode === "strict" ? [{ type: "ZoneSetting", settingId: "ssl", value: "strict" }] : []),
          ...(s.cloudflare.authenticatedOriginPulls ? [{ type: "ZoneSetting", settingId: "tls_client_auth", value: "on" }] : []),
        ]
      : [],
    https: { source: s.tlsSource, ...(s.nginx.tls ? { port: s.nginx.tls.port, certificate: s.nginx.tls.certificate, clientCertificateCa: s.nginx.tls.clientCertificateCa } : {}) },
    volumesKeptOnDestroy: s.volumes.retainOnDestroy,
    memoryBudget: budgetTable(s.memoryBudget),
    cpuBudget: cpuBudgetTable(s.cpuBudget),
  };
}
