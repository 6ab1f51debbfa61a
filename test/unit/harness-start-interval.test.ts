/**
 * The e2e harness's stand-in for the docker provider (test/harness/container.ts) and the health
 * check's start interval, against a MOCK Docker engine (an HTTP server on a unix socket that
 * answers /version with the API version a test gives and notes each request): the provider's
 * client refuses a start interval below API 1.44 before creating anything, and sends it (in ns)
 * at the negotiated version otherwise. No engine here speaks 1.44 (the machine's is 20.10), so
 * the mock stands in for one; the e2e runs the 1.41 side against the real engine.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import type { Applied } from "../harness/apply";
import { createContainer } from "../harness/container";
import { DockerApi } from "../harness/docker-api";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-start-interval-"));
const SOCKET = `${TMP}/docker.sock`;
let engineApi = "1.41";
const requests: { method: string; url: string; body: any }[] = [];
let created: any;

const server = http.createServer((req, res) => {
  let text = "";
  req.on("data", (c: Buffer) => (text += c.toString("utf8")));
  req.on("end", () => {
    const body = text ? JSON.parse(text) : undefined;
    requests.push({ method: req.method!, url: req.url!, body });
    const answer = (status: number, data?: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(data === undefined ? "" : JSON.stringify(data));
    };
    if (req.url!.endsWith("/version")) return answer(200, { ApiVersion: engineApi });
    if (req.url!.includes("/containers/create")) {
      created = body;
      return answer(201, { Id: "c1" });
    }
    if (req.url!.endsWith("/containers/c1/start")) return answer(204);
    // An engine older than the request's version would not know StartInterval: this mock echoes what it got.
    if (req.url!.endsWith("/containers/c1/json")) return answer(200, { Config: { Healthcheck: created.Healthcheck }, HostConfig: {} });
    answer(404, { message: `mock engine: unexpected ${req.method} ${req.url}` });
  });
});
const listening = new Promise<void>((resolve) => server.listen(SOCKET, resolve));
after(() => {
  server.close();
  fs.rmSync(TMP, { recursive: true, force: true });
});

function container(healthcheck: Record<string, unknown>) {
  return {
    type: "docker:index/container:Container",
    name: "x-container",
    inputs: { name: "x", image: "img", restart: "unless-stopped", memory: 64, memorySwap: 64, healthcheck, wait: false },
    secretPaths: [],
    dependencies: [],
  };
}

const state = (): Applied => ({ docker: new DockerApi(SOCKET), cloudflare: [], tmp: TMP, state: new Map() });
const hc = { tests: ["CMD", "true"], interval: "1m0s", timeout: "10s", retries: 3, startPeriod: "1m0s" };

test("harness container (MOCK engine): a start interval on an engine below API 1.44 is refused with the provider's client's words, nothing created", async () => {
  await listening;
  requests.length = 0;
  engineApi = "1.41";
  await assert.rejects(createContainer(container({ ...hc, startInterval: "2s" }), state(), () => {}), {
    message: `"specify health-check start interval" requires API version 1.44, but the Docker daemon API version is 1.41`,
  });
  assert.deepEqual(requests.map((r) => r.url), ["/v1.41/version"]);
});

test("harness container (MOCK engine): on API 1.45 the create goes at 1.45 with StartInterval in ns, and the state keeps the Go spelling; without one, StartInterval 0 at 1.41 as the provider's default", async () => {
  await listening;
  requests.length = 0;
  engineApi = "1.45";
  const stored = await createContainer(container({ ...hc, startInterval: "2s" }), state(), () => {});
  const create = requests.find((r) => r.url.includes("/containers/create"))!;
  assert.equal(create.url, "/v1.45/containers/create?name=x");
  assert.deepEqual(create.body.Healthcheck, { Test: ["CMD", "true"], Interval: 60e9, Timeout: 10e9, Retries: 3, StartPeriod: 60e9, StartInterval: 2e9 });
  assert.equal(stored.healthcheck.startInterval, "2s");

  requests.length = 0;
  await createContainer(container(hc), state(), () => {});
  const plain = requests.find((r) => r.url.includes("/containers/create"))!;
  assert.equal(plain.url, "/v1.41/containers/create?name=x");
  assert.equal(plain.body.Healthcheck.StartInterval, 0);
  assert.equal(requests.some((r) => r.url.endsWith("/version")), false, "no version asked without a start interval");
});
