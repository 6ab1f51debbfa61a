/**
 * What one run of the upkeep job reports (templates/upkeep/upkeep.py): the last line of its
 * output, "upkeep summary {json}", and the same object in last-run.json with the time it
 * finished. Read by `npm run status`, the benchmark and the e2e checks.
 */

type Tally = { deleted: number; bytes: number; protected: number; kept: number; avatars: number };
type Sizes = { media: { local: number; remote: number; total: number }; database: number };

export interface UpkeepSummary {
  by: "cron" | "hand";
  /** Steps that failed (the others still ran). */
  failed: string[];
  seconds: number;
  freedBytes: number;
  /** By uploader class: "bridged" (ghosts and bots) and "localUsers". */
  media?: Record<string, Tally>;
  before?: Sizes;
  after?: Sizes;
  history?: { rooms: number; purged: number };
  stateCompression?: { rowsBefore: number; rowsAfter: number };
}

/** last-run.json. */
export type UpkeepRun = UpkeepSummary & { finished: string };

const PREFIX = "upkeep summary ";

/** The last summary line in a run's output (or in the log, several runs long), or undefined. */
export function lastUpkeepSummary(output: string, by?: UpkeepSummary["by"]): UpkeepSummary | undefined {
  const lines = output.split("\n").filter((l) => l.startsWith(PREFIX));
  const all = lines.map((l) => JSON.parse(l.slice(PREFIX.length)) as UpkeepSummary);
  return all.filter((x) => by === undefined || x.by === by).pop();
}
