/** Small-host tuning (infra/render/tuning.ts): PostgreSQL's connections fit every pool as rendered. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { homeserverConfig } from "../../infra/render/homeserver";
import { POOLS, postgresSettings } from "../../infra/render/tuning";
import { deriveSecrets } from "../../infra/secrets";
import { stackSettings } from "../harness/stacks";

const maxConnections = (values: Record<string, unknown>) => Number(postgresSettings(stackSettings("local", values)).find(([k]) => k === "max_connections")?.[1]);
const renderedPool = (values: Record<string, unknown>) => {
  const args = (homeserverConfig(stackSettings("local", values), deriveSecrets("a-test-seed-of-some-length")).database as { args: Record<string, unknown> }).args;
  return [args.cp_min, args.cp_max];
};

test("max_connections: Synapse's pool, each bridge's, the maintenance and superuser reserves", () => {
  assert.deepEqual(renderedPool({}), [POOLS.synapse.cp_min, POOLS.synapse.cp_max]);
  assert.equal(maxConnections({}), POOLS.synapse.cp_max + 2 * POOLS.bridge.max_open_conns + POOLS.maintenance + POOLS.superuserReserved);
});

test("a pool set in synapse.extraConfig is the one max_connections makes room for", () => {
  const values = { "matrix:synapse": { extraConfig: { database: { args: { cp_min: 4, cp_max: 12 } } } } };
  assert.deepEqual(renderedPool(values), [4, 12]);
  assert.equal(maxConnections(values), 12 + 2 * POOLS.bridge.max_open_conns + POOLS.maintenance + POOLS.superuserReserved);
});
