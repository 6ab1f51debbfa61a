/**
 * The Docker filter on the e2e deployment: from inside the watchdog's container (its Python, its
 * network), a restart of the QQ bridge through the Docker filter works and exec and create are
 * refused. The full allow/deny matrix runs against real HAProxy in test/render/docker-filter.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Settings } from "../../infra/settings";
import { docker, poll } from "../harness/wait";

/** One Engine API call from the watchdog's container to the filter: "<status>". */
function fromWatchdog(s: Settings, method: string, path: string, body?: object): string {
  const code = [
    "import json, sys, urllib.error, urllib.request",
    "method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]",
    "req = urllib.request.Request(url, method=method, data=body.encode() if body else None, headers={'Content-Type': 'application/json'})",
    "try:",
    "    print(urllib.request.urlopen(req, timeout=120).status)",
    "except urllib.error.HTTPError as e:",
    "    print(e.code)",
  ].join("\n");
  const url = `http://${s.namePrefix}-docker-filter:2375${path}`;
  return docker("exec", `${s.namePrefix}-watchdog`, "python", "-c", code, method, url, body ? JSON.stringify(body) : "");
}

export function dockerFilterTests(s: Settings): void {
  test("Docker filter: from the watchdog's container a QQ restart passes; exec, create and another container are refused (403)", async () => {
    const qq = `${s.namePrefix}-qq`;
    const startedBefore = docker("inspect", "-f", "{{.State.StartedAt}}", qq);
    assert.equal(fromWatchdog(s, "POST", `/containers/${qq}/restart?t=15`), "204");
    assert.notEqual(docker("inspect", "-f", "{{.State.StartedAt}}", qq), startedBefore, "the QQ bridge was restarted");
    // Healthy again before the tests after this one (npm run status wants every container healthy).
    // Docker's own verdict: on Docker 20.10 (no start_interval) its first check runs a minute after
    // the restart and, should the bridge not answer yet, the next a minute later (render/healthcheck.ts).
    await poll("the restarted QQ bridge to report healthy", 200_000, () => (docker("inspect", "-f", "{{.State.Health.Status}}", qq) === "healthy" ? true : undefined));
    assert.equal(fromWatchdog(s, "POST", `/containers/${qq}/exec`, { Cmd: ["true"] }), "403");
    assert.equal(fromWatchdog(s, "POST", "/containers/create?name=kit-e2e-intruder", { Image: s.synapse.image }), "403");
    assert.equal(fromWatchdog(s, "GET", `/containers/${s.namePrefix}-synapse/json`), "403");
    // The engine never saw the create.
    assert.equal(docker("ps", "-a", "-q", "-f", "name=^kit-e2e-intruder$"), "");
    // The watchdog itself no longer holds the socket.
    assert.doesNotMatch(docker("inspect", "-f", "{{range .Mounts}}{{.Destination}} {{end}}", `${s.namePrefix}-watchdog`), /docker\.sock/);
  });
}
