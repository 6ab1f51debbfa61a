/**
 * The Docker filter against a REAL HAProxy (this machine's Debian package, as the e2e image has it):
 * the kit's rendered haproxy.cfg, bound to a free loopback port, in front of a stand-in for the
 * Docker Engine API (a Node HTTP server on a unix socket that records what reaches it). The
 * watchdog's own code (templates/watchdog/watchdog.py, run by python3) makes its real calls
 * through it; every other call must be answered 403 by HAProxy and never reach the stand-in.
 */
import assert from "node:assert/strict";
import { execFile, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { validate } from "../../infra/config";
import { filteredContainers, renderDockerFilterConfig } from "../../infra/render/docker-filter";
import type { Settings } from "../../infra/settings";
import { startHaproxy, stopHaproxy } from "../harness/haproxy";
import { freePort, request } from "../harness/http";

const ROOT = path.resolve(__dirname, "../..");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-docker-filter-"));
const SOCKET = `${TMP}/docker.sock`;

function e2eLikeSettings(): Settings {
  const v = validate("e2e", { values: { "matrix:domain": "e2e.localhost", "matrix:target": { kind: "local" }, "matrix:secretSeed": { secure: "x" } }, secretKeys: new Set(["matrix:secretSeed"]) });
  assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
  return v.settings;
}

describe("the Docker filter: real HAProxy with the kit's haproxy.cfg before a stand-in Engine API", () => {
  const s = e2eLikeSettings();
  let port: number;
  let haproxy: ChildProcess;
  let engine: http.Server;
  /** "METHOD url" of every request that reached the stand-in engine. */
  const reached: string[] = [];
  const call = (method: string, url: string) => request({ host: "docker", port, method, path: url });

  before(async () => {
    engine = http.createServer((req, res) => {
      reached.push(`${req.method} ${req.url}`);
      if (req.method === "POST") res.writeHead(204).end();
      else res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ State: { StartedAt: "2026-11-30T07:03:16.878276218Z" } }));
    });
    await new Promise<void>((resolve) => engine.listen(SOCKET, resolve));
    port = await freePort();
    const cfg = `${TMP}/haproxy.cfg`;
    fs.writeFileSync(cfg, renderDockerFilterConfig(s, { socket: SOCKET, bind: `127.0.0.1:${port}` }));
    haproxy = await startHaproxy(cfg, port);
  });

  after(async () => {
    await stopHaproxy(haproxy);
    // HAProxy keeps its connections to the engine open for reuse.
    engine.closeAllConnections();
    await new Promise((resolve) => engine.close(resolve));
    fs.rmSync(TMP, { recursive: true, force: true });
  });

  test("the filter allows the enabled bridges only", () => {
    assert.deepEqual(filteredContainers(s), ["mx-e2e-qq", "mx-e2e-wechat"]);
  });

  test("the watchdog's own calls pass: inspect and restart of each bridge, through its script's docker()", async () => {
    reached.length = 0;
    for (const name of filteredContainers(s)) {
      const code = [
        "import sys; sys.path[:0] = ['templates/watchdog', 'templates/python']",
        "import urllib.parse, watchdog",
        `host, name = ${JSON.stringify(`tcp://127.0.0.1:${port}`)}, ${JSON.stringify(name)}`,
        "print(watchdog.started_at(host, name))",
        // As the watchdog's restart() forms it, with the bridge's stop grace.
        "watchdog.docker(host, 'POST', f'/containers/{urllib.parse.quote(name)}/restart?t=10', 204)",
      ].join("\n");
      // Not execFileSync: the stand-in engine answers from this process's event loop.
      const { stdout: out } = await promisify(execFile)("python3", ["-c", code], { cwd: ROOT, encoding: "utf8" });
      assert.match(out, /^1796022196\.878/);
    }
    assert.deepEqual(reached, ["GET /containers/mx-e2e-qq/json", "POST /containers/mx-e2e-qq/restart?t=10", "GET /containers/mx-e2e-wechat/json", "POST /containers/mx-e2e-wechat/restart?t=10"]);
  });

  test("an API version prefix is allowed once", async () => {
    reached.length = 0;
    assert.equal((await call("GET", "/v1.43/containers/mx-e2e-wechat/json")).status, 200);
    assert.equal((await call("POST", "/v1.41/containers/mx-e2e-qq/restart")).status, 204);
    assert.equal(reached.length, 2);
  });

  test("everything else is refused with 403 and never reaches the engine", async () => {
    const refused: [string, string][] = [
      ["POST", "/containers/create"],
      ["POST", "/v1.43/containers/create?name=mx-e2e-qq"],
      ["POST", "/containers/mx-e2e-qq/exec"],
      ["POST", "/exec/x/start"],
      ["GET", "/containers/json"],
      ["GET", "/containers/mx-e2e-synapse/json"],
      ["POST", "/containers/mx-e2e-synapse/restart"],
      ["POST", "/containers/mx-e2e-postgres/restart"],
      ["GET", "/containers/other-app/json"],
      ["POST", "/containers/other-app/restart"],
      ["GET", "/info"],
      ["GET", "/_ping"],
      ["GET", "/version"],
      ["POST", "/images/create?fromImage=evil"],
      // Other verbs on a bridge.
      ["POST", "/containers/mx-e2e-qq/stop"],
      ["POST", "/containers/mx-e2e-qq/kill"],
      ["DELETE", "/containers/mx-e2e-qq"],
      ["POST", "/containers/mx-e2e-qq/json"],
      ["HEAD", "/containers/mx-e2e-qq/json"],
      ["GET", "/containers/mx-e2e-qq/restart"],
      ["POST", "/containers/mx-e2e-qq/update"],
      // Path tricks.
      ["POST", "/containers/mx-e2e-qq/../mx-e2e-synapse/restart"],
      ["GET", "/containers/mx-e2e-qq/../mx-e2e-synapse/json"],
      ["POST", "/containers/mx-e2e-qq%2F..%2Fmx-e2e-synapse/restart"],
      ["POST", "/containers/mx-e2e-qq%2Frestart"],
      ["POST", "/containers/mx-e2e-q%71/restart"],
      ["POST", "/containers//mx-e2e-qq/restart"],
      ["POST", "/containers/mx-e2e-qq-evil/restart"],
      ["POST", "/containers/xmx-e2e-qq/restart"],
      ["POST", "/containers/mx-e2e-qq/restart/"],
      ["GET", "/containers/mx-e2e-qq/json?size=1"],
      ["POST", "/containers/mx-e2e-qq/restart?t=5&signal=SIGKILL"],
      ["POST", "/containers/mx-e2e-qq/restart?signal=SIGKILL"],
      ["POST", "/v1.43/v1.43/containers/mx-e2e-qq/restart"],
      ["POST", "/v1.43/../containers/mx-e2e-qq/restart"],
      ["POST", "/V1.43/containers/mx-e2e-qq/restart"],
      ["POST", "/containers/MX-E2E-QQ/restart"],
      ["POST", "http://docker/containers/create"],
    ];
    reached.length = 0;
    const wrong: string[] = [];
    for (const [method, url] of refused) {
      const a = await call(method, url);
      if (a.status !== 403) wrong.push(`${method} ${url}: ${a.status}`);
    }
    assert.deepEqual(wrong, []);
    assert.deepEqual(reached, []);
  });
});
