/**
 * The e2e harness's HTTP client (test/harness/http.ts) and kept-alive connections that a server
 * closed while the test process was blocked. The e2e's federation "off" step failed in CI with
 * "socket hang up": host nginx reloaded, its old worker closed the suite's idle keep-alive
 * connection while the test sat in a `docker exec` (execFileSync), and the next call went out on
 * that connection before the close was seen. The server here is a real Node HTTP server in
 * another process (so that it acts while this one is blocked), closing its idle connections on
 * SIGUSR2 as a reloading nginx's old worker does.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { freePort, request } from "../harness/http";

const SERVER = `
const http = require("node:http");
let connections = 0;
let requests = 0;
const srv = http.createServer((req, res) => {
  requests++;
  if (req.url === "/reset") return req.socket.destroy();
  res.end(JSON.stringify({ connections, requests }));
});
srv.on("connection", () => connections++);
srv.keepAliveTimeout = 60000;
process.on("SIGUSR2", () => {
  srv.closeIdleConnections();
  // Told once the closed sockets are gone (their FIN sent), not before.
  setImmediate(() => require("node:fs").writeFileSync(process.argv[2], "closed"));
});
srv.listen(Number(process.argv[1]), "127.0.0.1", () => console.log("ready"));
`;

const CLOSED = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kit-harness-http-")), "closed");
let port = 0;
let server: ReturnType<typeof spawn>;

before(async () => {
  port = await freePort();
  server = spawn(process.execPath, ["-e", SERVER, String(port), CLOSED], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((resolve) => server.stdout!.once("data", resolve));
});
after(() => {
  server.kill();
  fs.rmSync(path.dirname(CLOSED), { recursive: true, force: true });
});

const get = (path = "/") => request({ host: "kit.test", port, path });
/** The server closes its idle connections while this process is blocked, as the e2e is in a `docker exec`. */
const closedWhileBlocked = () => {
  fs.rmSync(CLOSED, { force: true });
  execFileSync("bash", ["-c", `kill -USR2 ${server.pid} && until [ -e ${CLOSED} ]; do sleep 0.01; done`]);
};

test("a plain keep-alive request on a connection the server closed while this process was blocked gets 'socket hang up' (the case the harness handles)", async () => {
  await get();
  closedWhileBlocked();
  const seen = await new Promise<{ code?: string; reused: boolean }>((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/" }, (res) => {
      res.resume();
      resolve({ reused: req.reusedSocket });
    });
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ code: e.code, reused: req.reusedSocket }));
    req.end();
  });
  assert.deepEqual(seen, { code: "ECONNRESET", reused: true });
});

test("the harness's request sends it again on a new connection, once, and gets the answer", async () => {
  const first = JSON.parse((await get()).body.toString());
  closedWhileBlocked();
  const answer = await get();
  assert.equal(answer.status, 200);
  const second = JSON.parse(answer.body.toString());
  // One request more than before reached the server (the one cut off never did), on a new connection.
  assert.equal(second.requests, first.requests + 1);
  assert.equal(second.connections, first.connections + 1);
});

test("the harness's request does not send again when a fresh connection is reset: the error is the caller's", async () => {
  const before = JSON.parse((await get()).body.toString());
  // Another source address: another pool of the agent's, so the connection is a new one.
  await assert.rejects(request({ host: "kit.test", port, path: "/reset", localAddress: "127.0.0.3" }), { code: "ECONNRESET" });
  const afterReset = JSON.parse((await get()).body.toString());
  assert.equal(afterReset.requests, before.requests + 2, "the reset request reached the server once, then this one");
});
