/**
 * The watchdog's scheduled sync of a bridge's contacts (WeChat's, templates/watchdog/profile_sync.py)
 * in `npm run status`: the last one and its answers, or why none ran (not logged in, a login going
 * on), and a warning when the last one failed. Pure: the watchdog's record in, lines out.
 */
/** What the watchdog keeps in its state file, beside the bridge's restart counts. */
export interface ProfileSyncRecord {
  last?: { at: string; ok: boolean; answers: string[]; seconds?: number };
  skipped?: { at: string; why: string };
}

export interface ProfileSyncStatus {
  container: string;
  record: ProfileSyncRecord;
}

export function profileSyncLine(p: ProfileSyncStatus): string {
  const { last, skipped } = p.record;
  const done = last ? `last ${last.at}: ${last.ok ? "ok" : "FAILED"} (${last.answers.join("; ")})` : "none yet";
  const note = skipped ? `; not run since ${skipped.at}: ${skipped.why}` : "";
  return `profile sync of ${p.container} (contacts' names and avatars, groups): ${done}${note}`;
}

export function profileSyncFindings(p: ProfileSyncStatus | undefined): { level: "warning"; what: string }[] {
  const last = p?.record.last;
  if (!p || !last || last.ok) return [];
  return [{ level: "warning", what: `the last profile sync of ${p.container} (${last.at}) FAILED: ${last.answers.join("; ")}; the watchdog tries again at its next check with the bridge logged in` }];
}
