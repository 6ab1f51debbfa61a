/**
 * What both benchmarks (footprint, peak) share around a deployment: which ones to run (the
 * baseline, the kit and --variant kits), their order over repetitions (interleaved: baseline,
 * kit, baseline, kit, ... so that the machine's noise falls on every side alike), the owner's
 * login, and each ratio's spread over the repetitions.
 */
import { request } from "../../test/harness/http";
import { deployBaseline, deployKit, type Deployment } from "./deploy";

export interface Run {
  label: string;
  deploy: () => Promise<Deployment>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The runs asked for, or the problem with the options. */
export function runsFrom(only: string | undefined, variants: string[], log: (l: string) => void): Run[] | string {
  if (only !== undefined && only !== "baseline" && only !== "kit") return `--only wants baseline or kit, got "${only}"`;
  const runs: Run[] = [
    { label: "baseline", deploy: () => deployBaseline(log) },
    { label: "kit", deploy: () => deployKit(log) },
  ].filter((r) => only === undefined || r.label === only);
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

/** Every run `reps` times, one of each per round: baseline, kit, variant, baseline, kit, variant, ... */
export function interleave<T>(runs: T[], reps: number): { run: T; rep: number }[] {
  return Array.from({ length: reps }, (_, rep) => runs.map((run) => ({ run, rep: rep + 1 }))).flat();
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

/** A figure's ratio `label`/baseline in each repetition that has both. */
export function ratios<R extends { label: string; rep: number }>(results: R[], label: string, figure: (r: R) => number): number[] {
  return results
    .filter((r) => r.label === label)
    .flatMap((r) => {
      const base = results.find((b) => b.label === "baseline" && b.rep === r.rep);
      return base && figure(base) > 0 ? [figure(r) / figure(base)] : [];
    });
}

/** Each figure's ratio to the baseline's over the repetitions, one line per figure and run. */
export function formatRatios<R extends { label: string; rep: number }>(results: R[], figures: [string, (r: R) => number][]): string[] {
  const labels = [...new Set(results.map((r) => r.label))].filter((l) => l !== "baseline");
  const reps = new Set(results.map((r) => r.rep)).size;
  const lines = [`ratios to the baseline, median (range) over ${reps} interleaved repetition${reps === 1 ? "" : "s"}`];
  for (const [name, f] of figures) for (const l of labels) lines.push(`  ${`${l}/baseline ${name}`.padEnd(44)} ${formatSpread(spread(ratios(results, l, f)))}`);
  return lines;
}

/** The owner, an admin, logged in, with Synapse's rate limits lifted for it. */
export async function ownerToken(d: Deployment): Promise<{ token: string; userId: string; post: (path: string, body: unknown) => Promise<any> }> {
  const password = d.registerOwner("owner", `bench-${Date.now()}`);
  const port = Number(new URL(d.synapseUrl).port);
  const post = async (path: string, body: unknown, token?: string) => {
    const r = await request({ host: "127.0.0.1", port, method: "POST", path, headers: token ? { Authorization: `Bearer ${token}` } : {}, body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`POST ${path}: ${r.status} ${r.body.toString().slice(0, 300)}`);
    return JSON.parse(r.body.toString());
  };
  const body = (await post("/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "owner" }, password })) as {
    access_token: string;
    user_id: string;
  };
  // The owner joins every portal at once, as a bridge's double puppeting would; Synapse's
  // join rate limit (0.1/s) would otherwise turn the setup into an hour of waiting.
  await post(`/_synapse/admin/v1/users/${encodeURIComponent(body.user_id)}/override_ratelimit`, { messages_per_second: 0, burst_count: 0 }, body.access_token);
  return { token: body.access_token, userId: body.user_id, post: (p, b) => post(p, b, body.access_token) };
}
