/**
 * Collects a deployment's status on its host: the read-only script
 * templates/host/status.sh.hbs, run with `sh -s` locally or over ssh with the
 * docker provider's options (the stack's host key pinned in them), and its output
 * as text for parse.ts.
 */
import { containerSpecs } from "../../render/all";
import { acmePaths } from "../../render/acme";
import { backupPaths } from "../../render/backup";
import { watchdogStateDir } from "../../render/watchdog";
import { renderTemplate } from "../../render/templates";
import { HostError, runOnHost } from "../remote";
import { containerName, enabledBridges, hostPath, volumeName, type Settings, type Target } from "../../settings";

/** What the script looks at: the stack's containers, its Synapse volume (or a directory) and PostgreSQL. */
export interface StatusSubject {
  containers: string[];
  /** A volume name, or an absolute host path when /data is a bind mount. */
  synapseData: string;
  postgres: string;
  postgresUser: string;
  /** The upkeep job's last-run.json on the host, or null when the stack has no upkeep job. */
  upkeepLastRun: string | null;
  /** The watchdog's restart counts on the host, or null when the stack has no watchdog. */
  watchdogRestarts: string | null;
  /** The bridge container whose contacts the watchdog syncs on a schedule (WeChat), or null. */
  profileSync: string | null;
  /** The last backup's result file on the host, or null when the stack has no backup repository. */
  backupResult: string | null;
  /** The certificate nginx serves and where it comes from (nginx.tls.source), or null without TLS at nginx. */
  certificate: { path: string; source: string } | null;
  /** The certificate script's last result (ACME), or null without ACME. */
  acmeResult: string | null;
}

export function subjectFromSettings(s: Settings): StatusSubject {
  return {
    // Every container the stack runs, as applied (the watchdog with its Docker filter, the bridges' queue).
    containers: containerSpecs(s).map((c) => c.name),
    synapseData: volumeName(s, "synapse"),
    postgres: containerName(s, "postgres"),
    postgresUser: s.postgres.superuser,
    upkeepLastRun: s.upkeep.enabled ? hostPath(s, "upkeep", "cache/last-run.json") : null,
    watchdogRestarts: s.watchdog.enabled && enabledBridges(s).length > 0 ? `${watchdogStateDir(s)}/restarts.json` : null,
    profileSync: s.watchdog.enabled && s.watchdog.wechatSync.enabled && s.wechat ? containerName(s, "wechat") : null,
    backupResult: s.backup.enabled ? backupPaths(s).statusFile : null,
    certificate: s.nginx.tls ? { path: s.nginx.tls.certificate, source: s.tlsSource } : null,
    acmeResult: s.acme.enabled ? acmePaths(s).statusFile : null,
  };
}

/** Go templates for docker's --format, kept out of the shell template's own braces. */
const FORMATS = {
  inspectFormat: "{{.State.Status}}\t{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}\t{{.RestartCount}}\t{{.State.OOMKilled}}\t{{.State.StartedAt}}",
  idFormat: "{{.Id}}",
  mountpointFormat: "{{.Mountpoint}}",
  dockerRootFormat: "{{.DockerRootDir}}",
};

export function statusScript(subject: StatusSubject): string {
  return renderTemplate("host/status.sh.hbs", {
    ...subject,
    upkeepLastRun: subject.upkeepLastRun ?? false,
    watchdogRestarts: subject.watchdogRestarts ?? false,
    profileSync: subject.profileSync ?? false,
    backupResult: subject.backupResult ?? false,
    certificate: subject.certificate ?? false,
    acmeResult: subject.acmeResult ?? false,
    ...FORMATS,
  });
}

/** A status script that could not run or did not finish. */
export const CollectError = HostError;

/** Runs the script on the target; resolves with its stdout, or rejects with what went wrong there. */
export async function collect(target: Target, script: string, timeoutMs = 60_000): Promise<string> {
  return runOnHost(target, script, "the status script", timeoutMs);
}
