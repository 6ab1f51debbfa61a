/**
 * The status script's records (templates/host/status.sh.hbs) as a typed report,
 * and what in it is wrong. Pure: text in, data out.
 */
import { backupWarning, parseBackupResult, type BackupResult } from "../backup/results";
import { certificateFindings, parseAcme, parseCertificate, type AcmeResult, type CertificateStatus } from "./certificates";
import { profileSyncFindings, type ProfileSyncRecord, type ProfileSyncStatus } from "./profile-sync";
import type { UpkeepRun } from "../upkeep";

export interface ContainerStatus {
  name: string;
  /** docker's State.Status ("running", "exited", ...), or "missing". */
  state: string;
  /** "healthy", "unhealthy", "starting", or "none" when the image has no health check. */
  health: string;
  restarts: number;
  /** Restarts the kit's watchdog made (through the Docker API: not in `restarts`), with the last one's time and reason. */
  watchdogRestarts?: { count: number; last?: string; why?: string };
  /** docker's State.OOMKilled: the last exit was the kernel's OOM killer. */
  oomKilled: boolean;
  startedAt?: string;
  memory?: {
    /** What docker stats shows: usage minus inactive page cache. */
    workingSetBytes: number;
    /** The cgroup's own usage (page cache included) and its peak since the container started. */
    usageBytes: number;
    peakBytes?: number;
    /** undefined: no limit. */
    limitBytes?: number;
    /** The kernel's OOM kills in this container since it started. */
    oomKills: number;
  };
}

export interface StatusReport {
  containers: ContainerStatus[];
  /** Bytes in the media store, by part: local uploads (and their thumbnails) and the remote cache. */
  media?: { local: number; localThumbnails: number; remote: number; remoteThumbnails: number };
  databases: { name: string; bytes: number }[];
  databaseError?: string;
  disks: { path: string; mount: string; sizeBytes: number; availableBytes: number }[];
  /** undefined: no upkeep job; null: it has not run yet (or its record is unreadable: upkeepError). */
  upkeep?: UpkeepRun | null;
  upkeepError?: string;
  /** Whether the stack sets a backup repository, and the last backup's result (null: none yet). */
  backup?: { configured: boolean; last: BackupResult | null };
  /** The certificate nginx serves; undefined without TLS at nginx. */
  certificate?: CertificateStatus;
  /** ACME's last renewal result (null: none yet); undefined without ACME. */
  acme?: AcmeResult | null;
  /** The watchdog's scheduled sync of a bridge's contacts; undefined when it syncs none. */
  profileSync?: ProfileSyncStatus;
}

/** cgroup v1 reports "no limit" as a huge number near 2^63, v2 as "max". */
const NO_LIMIT = 2 ** 60;

function num(v: string | undefined): number {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

export function parseStatus(text: string): StatusReport {
  const report: StatusReport = { containers: [], databases: [], disks: [] };
  const mem = new Map<string, Record<string, string>>();
  const media: Record<string, number> = {};
  let watchdog: Record<string, { restarts: number; last?: string; why?: string; sync?: ProfileSyncRecord }> = {};
  let profileSync: string | undefined;
  for (const line of text.split("\n")) {
    const f = line.split("\t");
    switch (f[0]) {
      case "missing":
        report.containers.push({ name: f[1], state: "missing", health: "none", restarts: 0, oomKilled: false });
        break;
      case "container":
        report.containers.push({ name: f[1], state: f[2], health: f[3], restarts: num(f[4]), oomKilled: f[5] === "true", startedAt: f[6] });
        break;
      case "memory":
        mem.set(f[1], { ...mem.get(f[1]), [f[2]]: f[3] });
        break;
      case "media":
        media[f[1]] = num(f[2]);
        break;
      case "database":
        report.databases.push({ name: f[1], bytes: num(f[2]) });
        break;
      case "database-error":
        report.databaseError = f.slice(1).join(" ");
        break;
      case "watchdog-restarts":
        try {
          watchdog = JSON.parse(f.slice(1).join("\t")) as typeof watchdog;
        } catch {
          /* a file being written: the next status reads it */
        }
        break;
      case "profile-sync":
        profileSync = f[1];
        break;
      case "upkeep":
        if (f[1] === "none") report.upkeep = null;
        else {
          try {
            report.upkeep = JSON.parse(f.slice(1).join("\t")) as UpkeepRun;
          } catch {
            report.upkeep = null;
            report.upkeepError = "its last-run.json is not JSON";
          }
        }
        break;
      case "backup":
        report.backup = f[1] === "unconfigured" ? { configured: false, last: null } : { configured: true, last: f[1] === "none" ? null : parseBackupResult(f.slice(1).join("\t")) };
        break;
      case "certificate":
      case "certificate-unreadable":
        report.certificate = parseCertificate(f);
        break;
      case "acme":
        report.acme = parseAcme(f.slice(1).join("\t"));
        break;
      case "disk":
        if (!report.disks.some((d) => d.mount === f[2])) report.disks.push({ path: f[1], mount: f[2], sizeBytes: num(f[3]), availableBytes: num(f[4]) });
        break;
    }
  }
  for (const c of report.containers) {
    const w = watchdog[c.name];
    if (w) c.watchdogRestarts = { count: w.restarts, last: w.last, why: w.why };
    const m = mem.get(c.name);
    if (!m || m.current === undefined) continue;
    const limit = m.limit === "max" ? undefined : num(m.limit);
    c.memory = {
      usageBytes: num(m.current),
      workingSetBytes: Math.max(0, num(m.current) - num(m.inactive_file)),
      peakBytes: m.peak === undefined ? undefined : num(m.peak),
      limitBytes: limit === undefined || limit >= NO_LIMIT ? undefined : limit,
      oomKills: num(m.oom_kill),
    };
  }
  if (profileSync) report.profileSync = { container: profileSync, record: watchdog[profileSync]?.sync ?? {} };
  if (Object.keys(media).length) {
    report.media = {
      local: media.local_content ?? 0,
      localThumbnails: media.local_thumbnails ?? 0,
      remote: media.remote_content ?? 0,
      remoteThumbnails: media.remote_thumbnail ?? 0,
    };
  }
  return report;
}

/** A disk with less free space than this (or this fraction) is a problem: Synapse fails uploads, PostgreSQL stops. */
export const DISK_MIN_FREE = { bytes: 1024 ** 3, fraction: 0.1 };
/** Memory this close to the limit is a warning: the next burst is an OOM kill. */
export const MEMORY_WARN_FRACTION = 0.9;

export interface Finding {
  level: "problem" | "warning";
  what: string;
}

/** Everything wrong (exit non-zero) or worth a look; empty when all is well. */
export function findings(r: StatusReport, now = new Date()): Finding[] {
  const out: Finding[] = [];
  for (const c of r.containers) {
    if (c.state !== "running") out.push({ level: "problem", what: `${c.name} is ${c.state}` });
    // Not judged yet: Docker turns it healthy or, after its start period and retries, unhealthy. With
    // checks a minute apart (render/healthcheck.ts) and no start_interval (Docker before 25), a
    // started container says this for up to a minute: a reason to look again, not a failure.
    else if (c.health === "starting") out.push({ level: "warning", what: `${c.name} is starting (docker health check: not judged yet: before Docker 25 the first check runs matrix:healthcheck.intervalSeconds after a start)` });
    else if (c.health !== "healthy" && c.health !== "none") out.push({ level: "problem", what: `${c.name} is ${c.health} (docker health check)` });
    if (c.oomKilled) out.push({ level: "problem", what: `${c.name} was last stopped by the OOM killer` });
    if (c.memory && c.memory.oomKills > 0) out.push({ level: "problem", what: `${c.name}: ${c.memory.oomKills} OOM kill(s) in the container since it started` });
    if (c.restarts > 0) out.push({ level: "warning", what: `${c.name} was restarted ${c.restarts} time(s) by docker` });
    const w = c.watchdogRestarts;
    if (w && w.count > 0) out.push({ level: "warning", what: `${c.name} was restarted ${w.count} time(s) by the watchdog (last ${w.last}: ${w.why})` });
    const m = c.memory;
    if (m?.limitBytes && m.workingSetBytes > m.limitBytes * MEMORY_WARN_FRACTION) {
      out.push({ level: "warning", what: `${c.name} uses ${Math.round((100 * m.workingSetBytes) / m.limitBytes)}% of its memory limit` });
    }
  }
  if (r.upkeep?.failed.length) out.push({ level: "warning", what: `the upkeep job's last run (${r.upkeep.finished}) failed at: ${r.upkeep.failed.join(", ")} (see its log)` });
  if (r.upkeepError) out.push({ level: "warning", what: `upkeep: ${r.upkeepError}` });
  const backup = r.backup && backupWarning(r.backup.last, r.backup.configured, now);
  if (backup) out.push({ level: "warning", what: backup });
  out.push(...certificateFindings(r.certificate, r.acme, now));
  out.push(...profileSyncFindings(r.profileSync));
  if (r.databaseError) out.push({ level: "problem", what: `database sizes unreadable: ${r.databaseError}` });
  for (const d of r.disks) {
    if (d.availableBytes < DISK_MIN_FREE.bytes || d.availableBytes < d.sizeBytes * DISK_MIN_FREE.fraction) {
      out.push({ level: "problem", what: `${d.mount} (holding ${d.path}) has ${(d.availableBytes / 1024 ** 3).toFixed(1)} GiB free of ${(d.sizeBytes / 1024 ** 3).toFixed(1)} GiB` });
    }
  }
  return out;
}
