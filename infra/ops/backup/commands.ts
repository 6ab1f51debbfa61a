/**
 * `npm run backup` and `npm run restore`: the scripts `pulumi up` placed on the host
 * (render/backup.ts), run over ssh with the stack's host key, their progress shown line by line.
 * Problems known in advance (no repository configured) are thrown as BackupError before
 * anything runs; a restore that would overwrite data is refused by the script (exit 3).
 */
import { backupPaths } from "../../render/backup";
import { shellQuote } from "../../render/templates";
import { containerName, enabledBridges, type Settings } from "../../settings";
import { runOnHost } from "../remote";
import { parseBackupResult, progressLine, summaryLines, type BackupResult } from "./results";

export class BackupError extends Error {}

type Out = (line: string) => void;

function enabled(s: Settings) {
  if (!s.backup.enabled) throw new BackupError(`matrix:backup.repository is not set for stack ${s.stack}: set it (see Backups in docs/operations.md), run pulumi up, then back up`);
  return s.backup;
}

/** Prints the script's own lines and restic's progress (at most every 5 s); restic's other JSON is not for people. */
function printer(out: Out): (line: string) => void {
  let last = 0;
  return (line) => {
    const progress = progressLine(line);
    if (progress) {
      if (Date.now() - last >= 5000) out(progress);
      last = Date.now();
    } else if (!line.startsWith("{")) out(line);
  };
}

/** A backup now (reason "manual"): progress, then the summary; the result as the host keeps it. */
export async function runBackup(s: Settings, out: Out): Promise<BackupResult> {
  const b = enabled(s);
  const p = backupPaths(s);
  const started = Date.now();
  let failure: Error | undefined;
  await runOnHost(s.target, `${shellQuote(p.script)} manual`, "the backup", 6 * 3600_000, printer(out)).catch((e: Error) => (failure = e));
  const result = parseBackupResult(await runOnHost(s.target, `cat ${shellQuote(p.statusFile)} 2>/dev/null || true`, "reading the backup's result"));
  // A result older than this run is not this run's (the script could not even start).
  if (!result || Date.parse(result.at) < started - 120_000) throw new BackupError(`the backup did not run: ${failure?.message ?? "no result written"}`);
  summaryLines(result, b.repository).forEach(out);
  if (!result.ok) throw new BackupError(`the backup failed: ${result.error}`);
  return result;
}

export async function listSnapshots(s: Settings, out: Out): Promise<void> {
  enabled(s);
  const text = await runOnHost(s.target, `${shellQuote(backupPaths(s).restore)} --list`, "listing the snapshots", 300_000);
  text.trimEnd().split("\n").forEach(out);
}

/**
 * Restores a snapshot onto the deployment (the script refuses to overwrite data without
 * `force`), then waits until the bridges answer their bots' status commands again, as the
 * watchdog sees it (its probe, as the owner), when the watchdog runs.
 */
export async function runRestore(s: Settings, snapshot: string, force: boolean, out: Out): Promise<void> {
  enabled(s);
  const script = [backupPaths(s).restore, snapshot, ...(force ? ["--force"] : [])].map(shellQuote).join(" ");
  const started = new Date().toISOString();
  try {
    await runOnHost(s.target, script, "the restore", 6 * 3600_000, printer(out));
  } catch (e) {
    const refused = /exited with 3: (.*)$/s.exec((e as Error).message);
    throw new BackupError(refused ? refused[1].trim().replace(/^restore: /, "") : (e as Error).message);
  }
  const bridges = enabledBridges(s);
  if (!s.watchdog.enabled || bridges.length === 0) {
    out("restore: the watchdog is off: check the bridges by hand (message their bots)");
    return;
  }
  const watchdog = containerName(s, "watchdog");
  const waiting = new Set(bridges.map((b) => b.kind));
  out(`restore: waiting for the bridges to answer the watchdog's probe (${[...waiting].join(", ")})`);
  const until = Date.now() + 300_000;
  while (waiting.size > 0 && Date.now() < until) {
    const logs = await runOnHost(s.target, `docker logs --since ${shellQuote(started)} ${shellQuote(watchdog)} 2>&1`, "reading the watchdog's log");
    for (const kind of [...waiting]) {
      if (logs.includes(`bridge answers the probe bridge="${kind}"`)) {
        out(`restore:   the ${kind} bridge answers its bot's status command`);
        waiting.delete(kind);
      }
    }
    if (waiting.size > 0) await new Promise((r) => setTimeout(r, 5000));
  }
  if (waiting.size > 0) throw new BackupError(`restored, but the ${[...waiting].join(" and ")} bridge did not answer the watchdog's probe within 5 minutes: see docker logs ${watchdog}`);
  out("restore: done: Synapse healthy with the same server key, the bridges answer");
}
