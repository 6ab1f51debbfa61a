/** `npm run status` output: a table for people, JSON for scripts. */
import { backupStatusLine } from "../backup/results";
import type { UpkeepRun } from "../upkeep";
import { certificateLine } from "./certificates";
import { profileSyncLine } from "./profile-sync";
import { findings, type StatusReport } from "./parse";

const MiB = 1024 * 1024;

function mib(n: number | undefined): string {
  return n === undefined ? "-" : (n / MiB).toFixed(1);
}

function size(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(0)} KiB`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd());
}

export function formatStatus(stack: string, r: StatusReport): string {
  const lines = [`status of stack ${stack}`, ""];
  lines.push(
    ...table([
      ["container", "state", "health", "restarts", "by watchdog", "OOM kills", "mem MiB", "peak MiB", "limit MiB"],
      ...r.containers.map((c) => [
        c.name,
        c.state,
        c.health,
        String(c.restarts),
        c.watchdogRestarts ? String(c.watchdogRestarts.count) : "-",
        String((c.memory?.oomKills ?? 0) + (c.oomKilled ? 1 : 0)),
        mib(c.memory?.workingSetBytes),
        mib(c.memory?.peakBytes),
        c.memory ? (c.memory.limitBytes === undefined ? "none" : mib(c.memory.limitBytes)) : "-",
      ]),
    ]),
  );
  lines.push("", "disk");
  const disk: string[][] = [["what", "size"]];
  if (r.media) {
    disk.push(["media store, local uploads", size(r.media.local + r.media.localThumbnails)]);
    disk.push(["media store, remote cache", size(r.media.remote + r.media.remoteThumbnails)]);
  }
  for (const d of r.databases) disk.push([`database ${d.name}`, size(d.bytes)]);
  for (const d of r.disks) disk.push([`free on ${d.mount} (${d.path})`, `${size(d.availableBytes)} of ${size(d.sizeBytes)}`]);
  lines.push(...table(disk).map((l) => `  ${l}`));
  if (r.upkeep !== undefined) lines.push("", upkeepLine(r.upkeep));
  if (r.backup) lines.push(backupStatusLine(r.backup.last, r.backup.configured, new Date()));
  const certificate = certificateLine(r.certificate, r.acme, new Date());
  if (certificate) lines.push(certificate);
  if (r.profileSync) lines.push(profileSyncLine(r.profileSync));
  const f = findings(r);
  lines.push("");
  if (f.length === 0) lines.push("all healthy");
  for (const x of f) lines.push(`${x.level === "problem" ? "PROBLEM" : "warning"}: ${x.what}`);
  return lines.join("\n");
}

function upkeepLine(u: UpkeepRun | null): string {
  if (u === null) return "upkeep: no run yet";
  const deleted = Object.values(u.media ?? {}).reduce((n, m) => n + m.deleted, 0);
  const sizes = u.before && u.after ? `; media store ${size(u.before.media.total)} -> ${size(u.after.media.total)}, database ${size(u.before.database)} -> ${size(u.after.database)}` : "";
  return `upkeep: last run ${u.finished} (${u.by}): ${deleted} media deleted, ${size(u.freedBytes)} freed${sizes}${u.failed.length ? `; FAILED: ${u.failed.join(", ")}` : ""}`;
}

export function statusJson(stack: string, r: StatusReport): string {
  const f = findings(r);
  return JSON.stringify({ stack, healthy: !f.some((x) => x.level === "problem"), findings: f, ...r }, null, 2);
}

/** 0: healthy (warnings allowed); 1: a problem. */
export function statusExitCode(r: StatusReport): number {
  return findings(r).some((x) => x.level === "problem") ? 1 : 0;
}
