/**
 * What both benchmarks (footprint, peak) share around a deployment: which ones to run (the
 * baseline, the peer with MDAD's defaults, the kit and --variant kits), their order over repetitions (interleaved and rotated: baseline,
 * kit, then kit, baseline, ... so that the machine's noise and a round's drift fall on every side alike), the owner's
 * login, and each ratio's spread over the repetitions.
 */
import { request } from "../../test/harness/http";
import { deployKit, type Deployment } from "./deploy";
import { deployHandMade } from "./hand-made";

export interface Run {
  label: string;
  deploy: () => Promise<Deployment>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const SIDES = ["baseline", "mdad", "kit"] as const;
export type Side = (typeof SIDES)[number];

/**
 * The runs asked for, or the problem with the options: `only` (comma-separated sides) or else
 * `sides`, each benchmark's own default, then a kit for each variant.
 */
export function runsFrom(only: string | undefined, variants: string[], log: (l: string) => void, sides: readonly Side[] = SIDES): Run[] | string {
  const chosen = only === undefined ? sides : only.split(",");
  const unknown = chosen.filter((c) => !(SIDES as readonly string[]).includes(c));
  if (unknown.length) return `--only wants sides among ${SIDES.join(", ")} (comma-separated), got "${only}"`;
  const deploy: Record<Side, () => Promise<Deployment>> = { baseline: () => deployHandMade("baseline", log), mdad: () => deployHandMade("mdad", log), kit: () => deployKit(log) };
  const runs: Run[] = SIDES.filter((side) => chosen.includes(side)).map((label) => ({ label, deploy: deploy[label] }));
  for (const v of variants) {
    const m = /^([a-z0-9-]+)=(\{.*\})$/s.exec(v);
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = m ? JSON.parse(m[2]) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!m || !parsed) return `--variant wants name={"matrix:<key>": ...} (JSON), got ${JSON.stringify(v)}`;
    runs.push({ label: `kit+${m[1]}`, deploy: () => deployKit(log, { name: m[1], values: parsed! }) });
  }
  return runs;
}

/**
 * Every run `reps` times, one of each per round, each round starting one run later: baseline, kit,
 * variant; kit, variant, baseline; variant, baseline, kit. At the full workload a deployment was
 * slower the later it came in a round whatever it was (send p50 392, 637, 2,056 ms for the
 * baseline, the kit and the same kit at 2 GB), so a fixed order would charge one side for it.
 */
export function interleave<T>(runs: T[], reps: number): { run: T; rep: number }[] {
  return Array.from({ length: reps }, (_, rep) => runs.map((_, i) => ({ run: runs[(i + rep) % runs.length], rep: rep + 1 }))).flat();
}

/**
 * Every run `reps` times, interleaved, each result handed to `keep` as it comes. A run that throws
 * (a variant Synapse refuses, say) is named in `failed` and the others still run: one bad lever
 * must not end a sweep of many and lose its report.
 */
export async function measureEach<T extends { label: string }, R>(runs: T[], reps: number, measure: (run: T, rep: number) => Promise<R>, keep: (r: R) => void, log: (l: string) => void): Promise<string[]> {
  const failed: string[] = [];
  for (const { run, rep } of interleave(runs, reps)) {
    try {
      keep(await measure(run, rep));
    } catch (e) {
      const why = failureReason(e instanceof Error ? e.message : String(e));
      failed.push(`${run.label} (repetition ${rep}): ${why}`);
      log(`${run.label}: FAILED, going on without it: ${why}`);
    }
  }
  return failed;
}

/**
 * One line that says why a deployment failed. A failed apply's first line is the provider's echo
 * of the script it ran (`running "# matrix-kit: wait for ..."`); the reason is in the kit's own
 * lines after it (`matrix-kit: ... did not become healthy`) and the log lines it quotes (`  | `),
 * so those are kept, each once, and the echo and the stack trace are dropped.
 */
export function failureReason(message: string, max = 600): string {
  const lines = message.split("\n");
  const kit = lines.findIndex((l) => l.startsWith("matrix-kit:"));
  if (kit < 0) return lines[0].slice(0, max);
  const quoted = lines.slice(kit + 1).filter((l) => l.startsWith("  | ")).map((l) => l.slice(4).trim()).filter((l) => l !== "");
  return [lines[kit], ...new Set(quoted)].join(" / ").slice(0, max);
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length === 0 ? NaN : s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, n: s.length };
}

/** "0.81 (0.54-0.93)": the median and the range; a single value alone. */
export function formatSpread(s: Spread, digits = 2): string {
  const f = (n: number) => n.toFixed(digits);
  return s.n <= 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}-${f(s.max)})`;
}

/** A figure's ratio `label`/`reference` in each repetition that has both. */
export function ratios<R extends { label: string; rep: number }>(results: R[], label: string, figure: (r: R) => number, reference = "baseline"): number[] {
  return results
    .filter((r) => r.label === label)
    .flatMap((r) => {
      const base = results.find((b) => b.label === reference && b.rep === r.rep);
      return base && figure(base) > 0 ? [figure(r) / figure(base)] : [];
    });
}

/**
 * Each figure's ratio to the reference's (the baseline, or the peer) over the repetitions, one line
 * per figure and run; against the peer, the runs that came after it (the kits), not the baseline.
 */
export function formatRatios<R extends { label: string; rep: number }>(results: R[], figures: [string, (r: R) => number][], reference = "baseline"): string[] {
  const all = [...new Set(results.map((r) => r.label))];
  const labels = all.slice(all.indexOf(reference) + 1).filter((l) => l !== reference && l !== "baseline");
  const reps = new Set(results.map((r) => r.rep)).size;
  const lines = [`ratios to the ${reference === "baseline" ? "baseline" : `peer (${reference})`}, median (range) over ${reps} interleaved repetition${reps === 1 ? "" : "s"}`];
  for (const [name, f] of figures) for (const l of labels) lines.push(`  ${`${l}/${reference} ${name}`.padEnd(44)} ${formatSpread(spread(ratios(results, l, f, reference)))}`);
  return lines;
}

/** The owner, an admin, logged in, with Synapse's rate limits lifted for it. */
export async function ownerToken(d: Deployment): Promise<{ token: string; userId: string; post: (path: string, body: unknown) => Promise<any> }> {
  const { localpart, password } = d.owner();
  const port = Number(new URL(d.synapseUrl).port);
  const post = async (path: string, body: unknown, token?: string) => {
    const r = await request({ host: "127.0.0.1", port, method: "POST", path, headers: token ? { Authorization: `Bearer ${token}` } : {}, body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`POST ${path}: ${r.status} ${r.body.toString().slice(0, 300)}`);
    return JSON.parse(r.body.toString());
  };
  const body = (await post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: localpart }, password })) as {
    access_token: string;
    user_id: string;
  };
  // The owner joins every portal at once, as a bridge's double puppeting would; Synapse's
  // join rate limit (0.1/s) would otherwise turn the setup into an hour of waiting.
  await post(`/_synapse/admin/v1/users/${encodeURIComponent(body.user_id)}/override_ratelimit`, { messages_per_second: 0, burst_count: 0 }, body.access_token);
  return { token: body.access_token, userId: body.user_id, post: (p, b) => post(p, b, body.access_token) };
}
