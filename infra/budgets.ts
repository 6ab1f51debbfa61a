/**
 * The shapes of the memory and CPU budgets a validated stack carries (Settings.memoryBudget and
 * cpuBudget): config/budget.ts and config/cpu-budget.ts plan them, renderers read them. Types
 * only, beside settings.ts at the bottom of the imports.
 */
/** The services with a memory limit from the budget (config/budget.ts plans it). */
export type BudgetService = "synapse" | "postgres" | "qq" | "wechat" | "watchdog" | "docker-filter" | "bridge-queue";

export interface BudgetRow {
  service: BudgetService;
  limitBytes: number;
  from: "stack" | "budget" | "kit";
}

/** Every container's memory limit, fitting in the VPS's memory minus the host's reserve. */
export interface MemoryBudget {
  totalBytes: number;
  reserveBytes: number;
  /** totalBytes - reserveBytes: what the containers' limits may add up to. */
  budgetBytes: number;
  rows: BudgetRow[];
  sumBytes: number;
}

/** The services with a CPU cap and weight (config/cpu-budget.ts plans them). */
export type CpuService = "synapse" | "postgres" | "qq" | "wechat" | "watchdog" | "docker-filter" | "bridge-queue" | "upkeep";

export interface CpuRow {
  service: CpuService;
  /** The cap, in CPUs (hundredths). */
  cpus: number;
  /** Relative weight (docker cpu shares). */
  shares: number;
  limitFrom: "stack" | "budget";
  sharesFrom: "stack" | "kit";
}

/** Each container's CPU cap (at most total - reserve) and weight. */
export interface CpuBudget {
  total: number;
  reserve: number;
  /** total - reserve: the most any one container may use. */
  budget: number;
  rows: CpuRow[];
}
