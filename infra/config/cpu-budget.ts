/**
 * The CPU budget: on a 1-CPU VPS, joining busy rooms drove the load to 40 and
 * starved sshd, nginx and the owner's other services at the evening peak.
 *
 * CPU, unlike memory, is shared, not used up: a container over its cap is throttled, not
 * killed, and an idle container takes nothing. So each container gets two things:
 *  - a cap (docker `--cpus`) that is at most the budget, `cpu.total - cpu.reserve`: no one
 *    container can ever take the CPU the host keeps for itself;
 *  - a weight (docker `--cpu-shares`, 1024 being Docker's default) that decides who yields
 *    when several are busy at once: Synapse and PostgreSQL first, the bridges and the
 *    watchdog small, the nightly upkeep job lowest.
 * Caps are not made to add up to the budget (memory's rule): that would hold Synapse to a
 * fraction of a CPU even while everything else sleeps.
 * Measured (npm run bench:peak, docs/benchmarks.md, "Peak"): on one CPU at the evening peak no container
 * was throttled under these caps, and without them (weights only) the owner was not served faster;
 * so they stay, bounding a container that runs away while the rest sleeps.
 *
 * Amounts are handled in hundredths of a CPU (integers), so no float rounding reaches the
 * table or the containers. Pure: raw values in, the table or problems out.
 */
import type { CpuBudget, CpuRow, CpuService } from "../budgets";

export type { CpuBudget, CpuRow, CpuService };

/** Each service's cap as a share of the budget, and its weight, unless the stack sets them. */
export const CPU_DEFAULTS: Record<CpuService, { budgetShare: number; shares: number }> = {
  synapse: { budgetShare: 1, shares: 1024 },
  postgres: { budgetShare: 1, shares: 1024 },
  // A backfill or a media burst of one bridge must not hold Synapse back.
  qq: { budgetShare: 0.5, shares: 256 },
  wechat: { budgetShare: 0.5, shares: 256 },
  watchdog: { budgetShare: 0.2, shares: 128 },
  // A few requests a minute, passed on to the engine.
  "docker-filter": { budgetShare: 0.2, shares: 128 },
  // Passes the bridges' requests on (tens of microseconds each); the bridges' weight, so it
  // yields to Synapse as they do.
  "bridge-queue": { budgetShare: 0.2, shares: 256 },
  // At night; it yields to everything (Docker's minimum is 2).
  upkeep: { budgetShare: 0.5, shares: 32 },
};

/** Docker's smallest cap is 0.01; below a tenth of a CPU the Python and Go services start too slowly. */
export const MIN_CPUS = 0.1;
/** Above 8 the docker provider reads some caps back in another spelling (see dockerCpus). */
export const MAX_CPUS = 8;

export type CpuOverrides = Partial<Record<CpuService, { limit?: number; shares?: number } | undefined>>;

const centi = (cpus: number) => Math.round(cpus * 100);

export function planCpuBudget(total: number, reserve: number, overrides: CpuOverrides, services: CpuService[]): CpuBudget {
  const budgetC = centi(total) - centi(reserve);
  const rows = services.map((service): CpuRow => {
    const set = overrides[service] ?? {};
    const derivedC = Math.floor(budgetC * CPU_DEFAULTS[service].budgetShare);
    return {
      service,
      cpus: set.limit ?? Math.max(0, derivedC) / 100,
      shares: set.shares ?? CPU_DEFAULTS[service].shares,
      limitFrom: set.limit === undefined ? "budget" : "stack",
      sharesFrom: set.shares === undefined ? "kit" : "stack",
    };
  });
  return { total, reserve, budget: budgetC / 100, rows };
}

/** Problems with a CPU budget, each naming the setting to change (empty: it fits). */
export function cpuBudgetProblems(b: CpuBudget, ns: string): string[] {
  if (b.budget <= 0) return [`${ns}:cpu.reserve (${b.reserve}) must be less than ${ns}:cpu.total (${b.total})\n${formatCpuBudget(b)}`];
  const problems: string[] = [];
  const budget = `the ${b.budget} CPUs any container may use (${ns}:cpu.total ${b.total} - ${ns}:cpu.reserve ${b.reserve})`;
  for (const r of b.rows) {
    if (r.limitFrom === "stack" && centi(r.cpus) > centi(b.budget)) {
      problems.push(`${ns}:cpu.${r.service}.limit (${r.cpus}) is more than ${budget}: lower it, or raise ${ns}:cpu.total\n${formatCpuBudget(b)}`);
    }
    if (r.limitFrom === "budget" && centi(r.cpus) < centi(MIN_CPUS)) {
      problems.push(
        `the CPU budget leaves ${r.cpus} CPUs for ${r.service}, below the ${MIN_CPUS} it needs: raise ${ns}:cpu.total, lower ${ns}:cpu.reserve or set ${ns}:cpu.${r.service}.limit\n${formatCpuBudget(b)}`,
      );
    }
  }
  return problems;
}

/**
 * The cap as the docker provider stores it after reading the container back (NanoCPUs as a
 * decimal: "1.0", "0.5", "0.75"). Any other spelling ("1", "0.50") would show as a change on
 * every refresh, and `cpus` replaces the container. Exact for hundredths from 0.1 to under 10.
 */
export function dockerCpus(cpus: number): string {
  const c = centi(cpus);
  return c % 100 === 0 ? `${c / 100}.0` : String(c / 100);
}

/** A service's row; every service with a container has one. */
export function cpuOf(b: CpuBudget, service: CpuService): CpuRow {
  const row = b.rows.find((r) => r.service === service);
  if (!row) throw new Error(`no CPU budget row for ${service}`);
  return row;
}

/** The table printed on refusal and by `npm run render`. */
export function formatCpuBudget(b: CpuBudget): string {
  const line = (a: string, n: string, w: string, c = "") => `    ${a.padEnd(14)}${n.padStart(5)}${w.padStart(8)}  ${c}`.trimEnd();
  const from = (r: CpuRow) =>
    `${r.limitFrom === "stack" ? `cpu.${r.service}.limit` : `${CPU_DEFAULTS[r.service].budgetShare * 100}% of the budget`}, ${r.sharesFrom === "stack" ? `cpu.${r.service}.shares` : "kit shares"}`;
  return [
    line("container", "CPUs", "shares", "from"),
    ...b.rows.map((r) => line(r.service, r.cpus.toFixed(2), String(r.shares), from(r))),
    line("budget", b.budget.toFixed(2), "", `cpu.total ${b.total} - cpu.reserve ${b.reserve}`),
  ].join("\n");
}

/** plan.json's view of the CPU budget. */
export function cpuBudgetTable(b: CpuBudget): Record<string, unknown> {
  return {
    total: b.total,
    reserve: b.reserve,
    budget: b.budget,
    containers: b.rows.map((r) => ({ service: r.service, cpus: r.cpus, shares: r.shares, limitFrom: r.limitFrom, sharesFrom: r.sharesFrom })),
  };
}
