/** The CPU budget (infra/config/cpu-budget.ts): caps within total - reserve, weights by service, overrides kept, bad stacks refused by key. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cpuBudgetProblems, dockerCpus, formatCpuBudget, planCpuBudget, type CpuBudget } from "../../infra/config/cpu-budget";
import { validate } from "../../infra/config";
import { nanoCpus, providerCpus } from "../harness/container";

const ALL = ["synapse", "postgres", "qq", "wechat", "watchdog", "docker-filter", "upkeep"] as const;
const table = (b: CpuBudget) => Object.fromEntries(b.rows.map((r) => [r.service, [r.cpus, r.shares]]));

test("a 1-CPU VPS with the default reserve: Synapse and PostgreSQL may use the whole 0.75, the bridges half, the watchdog a fifth", () => {
  const b = planCpuBudget(1, 0.25, {}, [...ALL]);
  assert.equal(b.budget, 0.75);
  assert.deepEqual(table(b), {
    synapse: [0.75, 1024],
    postgres: [0.75, 1024],
    qq: [0.37, 256],
    wechat: [0.37, 256],
    watchdog: [0.15, 128],
    "docker-filter": [0.15, 128],
    upkeep: [0.37, 32],
  });
  assert.deepEqual(cpuBudgetProblems(b, "matrix"), []);
});

test("caps are whole hundredths, never above the budget, for any total and reserve", () => {
  for (let total = 0.5; total <= 8; total += 0.13) {
    const t = Math.round(total * 100) / 100;
    const b = planCpuBudget(t, 0.3, {}, [...ALL]);
    for (const r of b.rows) {
      assert.ok(r.cpus <= b.budget, `${t}: ${r.service} ${r.cpus} > ${b.budget}`);
      assert.ok(Math.abs(r.cpus * 100 - Math.round(r.cpus * 100)) < 1e-9, `${t}: ${r.service} ${r.cpus}`);
    }
  }
});

test("a stack's limit and shares are kept; the others still come from the budget and the kit", () => {
  const b = planCpuBudget(2, 0.5, { synapse: { limit: 1.2 }, qq: { shares: 64 } }, ["synapse", "postgres", "qq"]);
  assert.deepEqual(table(b), { synapse: [1.2, 1024], postgres: [1.5, 1024], qq: [0.75, 64] });
  assert.deepEqual(
    b.rows.map((r) => [r.limitFrom, r.sharesFrom]),
    [["stack", "kit"], ["budget", "kit"], ["budget", "stack"]],
  );
  assert.deepEqual(formatCpuBudget(b).split("\n"), [
    "    container      CPUs  shares  from",
    "    synapse        1.20    1024  cpu.synapse.limit, kit shares",
    "    postgres       1.50    1024  100% of the budget, kit shares",
    "    qq             0.75      64  50% of the budget, cpu.qq.shares",
    "    budget         1.50          cpu.total 2 - cpu.reserve 0.5",
  ]);
});

test("refused, naming the key: a limit above total - reserve, a reserve as large as the VPS, a budget too small to share", () => {
  const over = cpuBudgetProblems(planCpuBudget(1, 0.25, { synapse: { limit: 0.9 } }, ["synapse", "postgres"]), "matrix");
  assert.equal(over.length, 1);
  assert.match(over[0], /^matrix:cpu\.synapse\.limit \(0\.9\) is more than the 0\.75 CPUs any container may use \(matrix:cpu\.total 1 - matrix:cpu\.reserve 0\.25\): lower it, or raise matrix:cpu\.total\n/);
  assert.match(cpuBudgetProblems(planCpuBudget(1, 1, {}, ["synapse"]), "matrix")[0], /^matrix:cpu\.reserve \(1\) must be less than matrix:cpu\.total \(1\)/);
  const small = cpuBudgetProblems(planCpuBudget(0.5, 0.25, {}, [...ALL]), "matrix");
  assert.deepEqual(small.map((p) => p.split("\n")[0]), [
    "the CPU budget leaves 0.05 CPUs for watchdog, below the 0.1 it needs: raise matrix:cpu.total, lower matrix:cpu.reserve or set matrix:cpu.watchdog.limit",
    "the CPU budget leaves 0.05 CPUs for docker-filter, below the 0.1 it needs: raise matrix:cpu.total, lower matrix:cpu.reserve or set matrix:cpu.docker-filter.limit",
  ]);
  // Setting their limits is the way out the messages name.
  assert.deepEqual(cpuBudgetProblems(planCpuBudget(0.5, 0.25, { watchdog: { limit: 0.1 }, "docker-filter": { limit: 0.1 } }, [...ALL]), "matrix"), []);
});

test("the stack file's cpu block: negative, unknown and over-budget values are each named", () => {
  const v = validate("t", {
    values: {
      "matrix:domain": "example.com",
      "matrix:target": { kind: "local" },
      "matrix:cpu": { total: -1, reserve: 0.333, synapse: { limit: 0.05, shares: 1 }, bogus: {} },
    },
    secretKeys: new Set(["matrix:secretSeed"]),
  });
  assert.equal(v.ok, false);
  if (v.ok) return;
  const has = (re: RegExp) => assert.ok(v.errors.some((e) => re.test(e)), `${re} not in:\n${v.errors.join("\n")}`);
  has(/^matrix:cpu\.total must be a number of CPUs, not negative \(got -1\)$/);
  has(/^matrix:cpu\.reserve must be a number of CPUs in hundredths, like 0\.25 \(got 0\.333\)$/);
  has(/^matrix:cpu\.synapse\.limit must be at least 0\.1 CPUs \(got 0\.05\)$/);
  has(/^matrix:cpu\.synapse\.shares must be at least 2 \(Docker's minimum\) \(got 1\)$/);
  has(/^matrix:cpu\.bogus is not a setting of this kit/);
});

test("the docker provider's spelling of a cap: what the kit passes is what a refresh reads back (no diff, no replacement)", () => {
  // The provider's own examples (its helpers_test): 1e9 -> "1.0", 1.5e9 -> "1.5", 2e9 -> "2.0", 2.25e9 -> "2.25".
  for (const [nano, text] of [[1e9, "1.0"], [1.5e9, "1.5"], [2e9, "2.0"], [2.25e9, "2.25"]] as const) assert.equal(providerCpus(nano), text);
  // Its quirks, outside the kit's range: 0.05 reads back as "0.1", 10 as "10.".
  assert.equal(providerCpus(0.05e9), "0.1");
  assert.equal(providerCpus(10e9), "10.");
  for (let c = 10; c <= 800; c++) {
    const text = dockerCpus(c / 100);
    assert.equal(nanoCpus(text), c * 1e7, text);
    assert.equal(providerCpus(nanoCpus(text)), text, `${c / 100} would be read back differently`);
  }
});
