/**
 * Image upgrades: before a changed image replaces a container holding data, the host
 * notes the image before and after (and takes a backup when the stack asks); after the new
 * container starts, the update waits for its health check and, when it fails, stops with the
 * container's last log lines and the one-line rollback built from that note. Pure.
 */
import { containerName, enabledBridges, hostPath, type Settings } from "../settings";
import { backupPaths } from "./backup";
import { healthCheckWords } from "./containers";
import { renderTemplate } from "./templates";

/** How long the update waits for a new Synapse or PostgreSQL to report healthy (what the provider's wait allowed). */
export const HEALTHY_TIMEOUT_SECONDS = 300;

type DataService = "postgres" | "synapse" | "qq" | "wechat";

/** The stack setting that names a data container's image (the rollback line sets it). */
const imageSetting = (service: DataService) => `matrix:${service}.image`;

/** The containers holding data, with the image the stack gives each. */
function dataContainers(s: Settings): { service: DataService; name: string; image: string }[] {
  return [
    { service: "postgres" as const, image: s.postgres.image },
    { service: "synapse" as const, image: s.synapse.image },
    ...enabledBridges(s).map((b) => ({ service: b.kind, image: b.image })),
  ].map((c) => ({ ...c, name: containerName(s, c.service) }));
}

export function upgradeDir(s: Settings): string {
  return hostPath(s, "upgrade");
}

function recordPath(s: Settings): string {
  return `${upgradeDir(s)}/last`;
}

/** Its change re-runs the step before the upgrade: the images of the containers holding data. */
export function upgradeTriggers(s: Settings): string[] {
  return dataContainers(s).map((c) => c.image);
}

export function renderBeforeUpgradeScript(s: Settings): string {
  const backup = s.backup.enabled && s.backup.beforeUpgrade ? backupPaths(s).script : undefined;
  return renderTemplate("host/before-upgrade.sh.hbs", {
    stack: s.stack,
    containers: dataContainers(s),
    backup,
    synapse: containerName(s, "synapse"),
    postgres: containerName(s, "postgres"),
    // Healthy by their own checks too while Docker says starting (render/healthcheck.ts).
    synapseCheck: healthCheckWords(s, "synapse"),
    postgresCheck: healthCheckWords(s, "postgres"),
    dir: upgradeDir(s),
    record: recordPath(s),
  });
}

export function renderAwaitHealthyScript(s: Settings, service: "postgres" | "synapse"): string {
  return renderTemplate("host/await-healthy.sh.hbs", {
    container: containerName(s, service),
    // The container's own check, run by the wait itself while Docker says starting (render/healthcheck.ts).
    check: healthCheckWords(s, service),
    timeout: HEALTHY_TIMEOUT_SECONDS,
    record: recordPath(s),
    stack: s.stack,
    key: imageSetting(service),
  });
}
