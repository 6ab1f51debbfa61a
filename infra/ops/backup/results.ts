/**
 * What a backup run leaves and prints (templates/backup/backup.sh.hbs): the result file
 * (<hostDir>/backup/last.json) that `npm run status` and the watchdog read, restic's JSON lines,
 * and their wording for people. Pure.
 */

/** restic backup --json's summary line (restic 0.14 and later). */
export interface ResticSummary {
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  data_added: number;
  total_files_processed: number;
  total_bytes_processed: number;
  total_duration: number;
  snapshot_id: string;
}

/** The result file: written by every run, failed or not. */
export interface BackupResult {
  ok: boolean;
  /** UTC, ISO 8601 to the second. */
  at: string;
  reason: string;
  seconds: number;
  snapshot: string;
  error: string;
  summary: ResticSummary | null;
}

export function parseBackupResult(text: string): BackupResult | null {
  try {
    const r = JSON.parse(text) as BackupResult;
    return typeof r.ok === "boolean" && typeof r.at === "string" ? r : null;
  } catch {
    return null;
  }
}

export const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** restic's status line as a progress line, or null for any other line. */
export function progressLine(line: string): string | null {
  if (!line.startsWith('{"message_type":"status"')) return null;
  const st = JSON.parse(line) as { percent_done?: number; total_bytes?: number; bytes_done?: number; files_done?: number; total_files?: number; seconds_elapsed?: number };
  // restic's first status comes before it has counted anything: nothing to tell yet.
  if (!st.total_bytes) return null;
  const pct = Math.floor((st.percent_done ?? 0) * 100);
  return `backup: ${pct}% of ${mib(st.total_bytes ?? 0)} (${st.files_done ?? 0} of ${st.total_files ?? 0} files), ${st.seconds_elapsed ?? 0} s`;
}

/** The end of a run, for people: what was saved and what it added to the repository. */
export function summaryLines(r: BackupResult, repository: string): string[] {
  const sm = r.summary;
  if (!r.ok || !sm) return [`backup FAILED at ${r.at} (${r.reason}): ${r.error}`];
  return [
    `backup done: snapshot ${sm.snapshot_id} (${r.reason}) in ${r.seconds} s, into ${repository}`,
    `  read:  ${sm.total_files_processed} files, ${mib(sm.total_bytes_processed)} (databases dumped, media store, bridges' files, sticker packs)`,
    `  files: ${sm.files_new} new, ${sm.files_changed} changed, ${sm.files_unmodified} unchanged since the last snapshot`,
    `  added to the repository: ${mib(sm.data_added)} (compressed; the rest was already there: deduplicated)`,
  ];
}

/** How old a result is, in words: "3 h", "2 d". */
export function age(at: string, now: Date): string {
  const s = Math.max(0, (now.getTime() - Date.parse(at)) / 1000);
  return s < 3600 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
}

/** status's warning about backups, or null when the last one is fresh and good. */
export function backupWarning(r: BackupResult | null, configured: boolean, now: Date): string | null {
  if (!configured) return "no backups: matrix:backup.repository is not set, so a lost VPS loses every conversation (see Backups in docs/operations.md)";
  if (!r) return "no backup has run yet: run npm run backup";
  if (!r.ok) return `the last backup (${r.at}, ${r.reason}) FAILED: ${r.error}`;
  if (now.getTime() - Date.parse(r.at) > 2 * 86400 * 1000) return `the last backup is ${age(r.at, now)} old (${r.at}): the nightly backup is not running`;
  return null;
}

/** status's line about backups. */
export function backupStatusLine(r: BackupResult | null, configured: boolean, now: Date): string {
  if (!configured) return "backup: not configured (matrix:backup.repository)";
  if (!r) return "backup: none yet";
  if (!r.ok) return `backup: last ${r.at} (${age(r.at, now)} ago, ${r.reason}): FAILED: ${r.error}`;
  const sm = r.summary;
  return `backup: last ${r.at} (${age(r.at, now)} ago, ${r.reason}): snapshot ${r.snapshot}, ${sm ? `${mib(sm.total_bytes_processed)} read, ${mib(sm.data_added)} added` : "no summary"}, ${r.seconds} s`;
}
