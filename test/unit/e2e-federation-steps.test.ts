/**
 * The federation e2e (test/e2e/federation.ts) changes the e2e stack four times and back with the
 * harness's update (test/harness/update.ts), which carries out only some changes. Here the real
 * program, under Pulumi's MOCK runtime, is run with each step's values: every step changes only
 * what the update can apply, and exactly the resources the e2e expects to see replaced or updated.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { readStackFile, stackFilePath } from "../../infra/config/load";
import { changes } from "../harness/apply";
import { runProgram, TEST_SECRETS, type ProgramRun } from "../harness/program";
import { unsupportedChanges } from "../harness/update";
import { federationStepValues, PEER } from "../e2e/federation-peer";

const STACK = "e2e";
const stackSynapse = readStackFile(stackFilePath(STACK)).values["matrix:synapse"] as object;
const run = (values: Record<string, unknown> = {}) => runProgram({ stack: STACK, secrets: TEST_SECRETS, values });
const asState = (r: ProgramRun) => new Map(r.resources.map((x) => [x.name, { inputs: x.inputs }]));
function changedNames(from: ProgramRun, to: ProgramRun): string[] {
  const before = asState(from);
  return to.resources.filter((r) => {
    const out: string[] = [];
    changes(before.get(r.name)?.inputs, r.inputs, "", out);
    return out.length > 0;
  }).map((r) => r.name);
}

const STEPS: { label: string; federation: Record<string, unknown>; changed: string[] }[] = [
  { label: "open", federation: { mode: "open" }, changed: ["synapse-config-write", "synapse-container"] },
  { label: "allow-list without the peer", federation: { mode: "allow-list", allowedServers: ["matrix.org"] }, changed: ["synapse-config-write", "synapse-container"] },
  { label: "allow-list with the peer", federation: { mode: "allow-list", allowedServers: [PEER.serverName] }, changed: ["synapse-config-write", "synapse-container"] },
  { label: "off", federation: { mode: "off" }, changed: ["synapse-config-write", "edge-well-known", "synapse-container", "nginx-site"] },
];

test("each step of the federation e2e, and the way back to the stack's own settings, is an update the harness can apply, changing exactly the expected resources", async () => {
  const original = await run();
  const prefix = original.resources.find((r) => r.type === "docker:index/network:Network")!.inputs.name.replace(/-net$/, "");
  let previous = original;
  for (const step of STEPS) {
    const next = await run(federationStepValues(stackSynapse, "172.18.0.0/16", step.federation));
    assert.deepEqual(unsupportedChanges(asState(previous), next), [], step.label);
    assert.deepEqual(changedNames(original, next), step.changed.map((n) => `${prefix}-${n}`), `${step.label}, against the original deployment`);
    previous = next;
  }
  assert.deepEqual(unsupportedChanges(asState(previous), original), [], "back to the stack's own settings");
  assert.deepEqual(changedNames(previous, original), changedNames(original, previous), "the way back changes the same resources");
});

test("unsupportedChanges names a changed input the update cannot apply (the check can fail); resources created or deleted are the update's to do", async () => {
  const original = await run();
  const state = asState(original);
  const network = original.resources.find((r) => r.type === "docker:index/network:Network")!;
  state.set(network.name, { inputs: { ...network.inputs, driver: "overlay" } });
  state.set("gone-resource", { inputs: {} });
  const volume = original.resources.find((r) => r.type === "docker:index/volume:Volume")!;
  state.delete(volume.name);
  assert.deepEqual(unsupportedChanges(state, original), [`cannot update docker:index/network:Network ${network.name} (driver: "overlay" => "bridge")`]);
});
