/** The memory budget (infra/config/budget.ts): explicit limits kept, the rest shared by weight, never over the budget. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { budgetProblems, planBudget } from "../../infra/config/budget";

const MiB = 1024 * 1024;
const limits = (b: ReturnType<typeof planBudget>) => Object.fromEntries(b.rows.map((r) => [r.service, r.limitBytes / MiB]));

test("a 1 GB VPS with the default reserve: 384/192/96/96 MiB, exactly the budget", () => {
  const b = planBudget(1024 * MiB, 256 * MiB, {}, ["synapse", "postgres", "qq", "wechat"]);
  assert.deepEqual(limits(b), { synapse: 384, postgres: 192, qq: 96, wechat: 96 });
  assert.equal(b.sumBytes, b.budgetBytes);
  assert.deepEqual(budgetProblems(b, "matrix"), []);
});

test("a disabled bridge's share goes to the others; explicit limits are kept and the rest shared", () => {
  assert.deepEqual(limits(planBudget(1024 * MiB, 256 * MiB, {}, ["synapse", "postgres", "wechat"])), { synapse: 438, postgres: 219, wechat: 109 });
  assert.deepEqual(limits(planBudget(1024 * MiB, 256 * MiB, { synapse: 300 * MiB }, ["synapse", "postgres", "qq", "wechat"])), {
    synapse: 300, postgres: 234, qq: 117, wechat: 117,
  });
});

test("derived limits are whole MiB and never add up to more than the budget", () => {
  for (let total = 700; total <= 4096; total += 37) {
    const b = planBudget(total * MiB, 201 * MiB, {}, ["synapse", "postgres", "qq", "wechat"]);
    assert.ok(b.sumBytes <= b.budgetBytes, `${total}: ${b.sumBytes} > ${b.budgetBytes}`);
    for (const r of b.rows) assert.equal(r.limitBytes % MiB, 0);
  }
});

test("a reserve as large as the VPS is refused, naming both settings", () => {
  const b = planBudget(512 * MiB, 512 * MiB, {}, ["synapse", "postgres"]);
  assert.match(budgetProblems(b, "matrix")[0], /^matrix:memory\.reserve must be less than matrix:memory\.total/);
});

test("the watchdog takes its fixed 32 MiB first (or what the stack sets); the rest is shared as before", () => {
  const b = planBudget(1024 * MiB, 256 * MiB, {}, ["synapse", "postgres", "qq", "wechat", "watchdog"]);
  assert.deepEqual(limits(b), { synapse: 368, postgres: 184, qq: 92, wechat: 92, watchdog: 32 });
  assert.equal(b.rows.find((r) => r.service === "watchdog")!.from, "kit");
  assert.equal(b.sumBytes, b.budgetBytes);
  const set = planBudget(1024 * MiB, 256 * MiB, { watchdog: 48 * MiB }, ["synapse", "postgres", "qq", "wechat", "watchdog"]);
  assert.deepEqual(limits(set), { synapse: 360, postgres: 180, qq: 90, wechat: 90, watchdog: 48 });
  assert.equal(set.rows.find((r) => r.service === "watchdog")!.from, "stack");
});
