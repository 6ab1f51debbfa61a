/**
 * The memory budget: every container's limit fits in the VPS's memory minus a
 * reserve for the host (OS, nginx, whatever else the owner runs). A limit only
 * caps a container, and one that reaches it is OOM-killed, so limits that add up
 * to more than the VPS has let the evening peak kill other processes.
 *
 * Limits set in the stack are kept; the rest of the budget is shared among the
 * services without one, by weight. Pure: raw values in, the table or problems out.
 */
import type { BudgetRow, BudgetService, MemoryBudget } from "../budgets";

export type { BudgetRow, BudgetService, MemoryBudget };

const MiB = 1024 * 1024;

/** Shares of what explicit limits leave: Synapse's caches and media handling need the most. */
export const WEIGHTS: Record<Exclude<BudgetService, "watchdog" | "docker-filter" | "bridge-queue">, number> = { synapse: 4, postgres: 2, qq: 1, wechat: 1 };

/** Services with a fixed limit of the kit's unless the stack sets one: a small Python loop needs no share. */
export const FIXED: Partial<Record<BudgetService, number>> = { watchdog: 32 * MiB, "docker-filter": 24 * MiB, "bridge-queue": 16 * MiB };

/** Below these a service does not start reliably: a derived limit under its floor is refused. */
export const FLOORS: Record<BudgetService, number> = { synapse: 256 * MiB, postgres: 128 * MiB, qq: 48 * MiB, wechat: 48 * MiB, watchdog: 24 * MiB, "docker-filter": 16 * MiB, "bridge-queue": 16 * MiB };

/** Explicit limits (bytes) by service, for the enabled services only; undefined: derive it. */
export function planBudget(totalBytes: number, reserveBytes: number, explicit: Partial<Record<BudgetService, number | undefined>>, services: BudgetService[]): MemoryBudget {
  const budgetBytes = totalBytes - reserveBytes;
  const set = (s: BudgetService) => explicit[s] ?? FIXED[s];
  const derived = services.filter((s) => set(s) === undefined) as (keyof typeof WEIGHTS)[];
  const left = budgetBytes - services.reduce((sum, s) => sum + (set(s) ?? 0), 0);
  const weight = derived.reduce((sum, s) => sum + WEIGHTS[s], 0);
  const rows = services.map((service): BudgetRow => {
    if (explicit[service] !== undefined) return { service, limitBytes: explicit[service]!, from: "stack" };
    if (FIXED[service] !== undefined) return { service, limitBytes: FIXED[service]!, from: "kit" };
    // Whole MiB, rounded down, so the sum never exceeds the budget.
    return { service, limitBytes: Math.max(0, Math.floor((left * WEIGHTS[service as keyof typeof WEIGHTS]) / weight / MiB)) * MiB, from: "budget" };
  });
  return { totalBytes, reserveBytes, budgetBytes, rows, sumBytes: rows.reduce((sum, r) => sum + r.limitBytes, 0) };
}

/** Problems with a budget, each naming the settings to change (empty: it fits). */
export function budgetProblems(b: MemoryBudget, ns: string): string[] {
  const problems: string[] = [];
  if (b.budgetBytes <= 0) {
    problems.push(`${ns}:memory.reserve must be less than ${ns}:memory.total\n${formatBudget(b)}`);
    return problems;
  }
  if (b.sumBytes > b.budgetBytes) {
    problems.push(
      `the containers' memory limits add up to ${mib(b.sumBytes)} MiB, more than the ${mib(b.budgetBytes)} MiB budget (${ns}:memory.total - ${ns}:memory.reserve): lower the <service>.memoryLimit settings or raise ${ns}:memory.total\n${formatBudget(b)}`,
    );
  }
  for (const r of b.rows) {
    if (r.from === "budget" && r.limitBytes < FLOORS[r.service]) {
      problems.push(
        `the budget leaves ${mib(r.limitBytes)} MiB for ${r.service}, below the ${mib(FLOORS[r.service])} MiB it needs: raise ${ns}:memory.total, lower ${ns}:memory.reserve or the explicit memoryLimit settings\n${formatBudget(b)}`,
      );
    }
  }
  return problems;
}

function mib(bytes: number): number {
  return Math.round(bytes / MiB);
}

/** The table printed on refusal and by `npm run render`. */
export function formatBudget(b: MemoryBudget): string {
  const line = (a: string, n: number | string, c = "") => `    ${a.padEnd(14)}${String(n).padStart(7)}  ${c}`.trimEnd();
  return [
    line("container", "MiB", "limit from"),
    ...b.rows.map((r) => line(r.service, mib(r.limitBytes), r.from === "stack" ? `${r.service}.memoryLimit` : r.from === "kit" ? "kit default" : "budget share")),
    line("total", mib(b.sumBytes)),
    line("budget", mib(b.budgetBytes), `memory.total ${mib(b.totalBytes)} - memory.reserve ${mib(b.reserveBytes)}`),
  ].join("\n");
}

/** plan.json's view of the budget, in MiB. */
export function budgetTable(b: MemoryBudget): Record<string, unknown> {
  return {
    totalMiB: mib(b.totalBytes),
    reserveMiB: mib(b.reserveBytes),
    budgetMiB: mib(b.budgetBytes),
    containers: b.rows.map((r) => ({ service: r.service, limitMiB: mib(r.limitBytes), from: r.from })),
    sumMiB: mib(b.sumBytes),
  };
}
