/**
 * Real validators for every rendered file of every stack in stacks/: the `yaml`
 * parser, Debian's nginx (`nginx -t`, and a real server on loopback for the
 * discovery endpoints), Synapse's own config loader from PyPI, and the Worker
 * in workerd through miniflare. Nothing here is a mock.
 *
 * Needs what test/setup/validators.sh installs (run it as root first); a missing
 * tool fails the test with a message naming that script, never a skip.
 *
 * Files that land at fixed absolute paths (/config, /data, /etc/ssl/cloudflare) are
 * made visible there only inside a private mount namespace (`unshare --mount`): the
 * real filesystem outside it is never written, apart from our own temp dir.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { describe, test } from "node:test";
import { Miniflare } from "miniflare";
import { parse as parseYaml } from "yaml";
import { renderFiles, type RenderedFile } from "../../infra/render/all";
import { appserviceUrl } from "../../infra/render/bridges";
import { clientWellKnown, publicBaseUrl, serverWellKnown } from "../../infra/render/discovery";
import { SYNAPSE_PATHS } from "../../infra/render/addresses";
import { complexityError } from "../../infra/render/federation";
import { COMPATIBILITY_DATE } from "../../infra/render/worker";
import { deriveSecrets, type Secrets } from "../../infra/secrets";
import { enabledBridges, type Settings } from "../../infra/settings";
import { freePort, json, request } from "../harness/http";
import { privateNginxConf } from "../harness/private-nginx";
import { durationMs, loadSynapseConfig, nginxTest, readIfExists, requireTool, ROOT, SYNAPSE_VERSION, tempDir, waitForPort } from "../harness/validators";
import { FEDERATION_VARIANTS, stackSettings } from "../harness/stacks";


const SEED = "validator-test-seed-0123456789";
const STACKS = fs
  .readdirSync(path.join(ROOT, "stacks"))
  .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
  .filter((s): s is string => s !== undefined)
  .sort();

/** Every shipped stack, then the federation modes other than "open" on a stack behind Cloudflare and one whose nginx serves discovery. */
const CASES = [
  ...STACKS.map((stack) => ({ stack, label: `stack ${stack}`, values: {} })),
  ...Object.entries(FEDERATION_VARIANTS).flatMap(([mode, values]) => ["dev", "local"].map((stack) => ({ stack, label: `stack ${stack} with federation ${mode}`, values }))),
];

/** What Synapse's loader must understand from each federation mode (Synapse's config documentation). */
function expectedFederation(s: Settings): Record<string, unknown> {
  const f = s.federation;
  return {
    listener_resources: f.mode === "off" ? ["client"] : ["client", "federation"],
    domain_whitelist: f.mode === "open" ? null : f.mode === "off" ? [] : [...f.allowedServers].sort(),
    send_federation: f.mode !== "off",
    trusted_key_servers: f.mode === "open" ? ["matrix.org"] : [],
    limit_remote_rooms:
      f.roomComplexityLimit === null
        ? // Synapse's defaults, unused while disabled.
          { enabled: false, complexity: 1, complexity_error: "Your homeserver is unable to join rooms this large or complex. Please speak to your server administrator, or upgrade your instance to join this room.", admins_can_join: false }
        : { enabled: true, complexity: f.roomComplexityLimit, complexity_error: complexityError(f.roomComplexityLimit), admins_can_join: false },
  };
}

function loadStack(stack: string, values: Record<string, unknown>): { settings: Settings; secrets: Secrets; files: RenderedFile[] } {
  const settings = stackSettings(stack, values);
  const secrets = deriveSecrets(SEED);
  return { settings, secrets, files: renderFiles(settings, secrets) };
}

function only(files: RenderedFile[], kind: RenderedFile["kind"]): RenderedFile {
  const found = files.filter((f) => f.kind === kind);
  assert.equal(found.length, 1, `expected one rendered file of kind ${kind}, got ${found.map((f) => f.path).join(", ") || "none"}`);
  return found[0];
}


test("stacks/ holds the stacks these validators cover", () => {
  for (const s of ["local", "dev", "prod"]) assert.ok(STACKS.includes(s), `stacks/Pulumi.${s}.yaml is missing`);
});

for (const { stack, label, values } of CASES) {
  const { settings: s, secrets, files } = loadStack(stack, values);

  describe(label, () => {
    test("every rendered YAML file parses with the yaml package to a mapping", () => {
      const yamlFiles = files.filter((f) => f.kind === "yaml");
      // homeserver.yaml, log.config, the double-puppet registration, then registration x2 and config per bridge.
      assert.equal(yamlFiles.length, 3 + 3 * enabledBridges(s).length);
      for (const f of yamlFiles) {
        const doc: unknown = parseYaml(f.content);
        assert.ok(doc !== null && typeof doc === "object" && !Array.isArray(doc), `${f.path} is not a YAML mapping`);
      }
    });

    test("real bash parses every rendered shell script (bash -n); a broken copy is refused", () => {
      const scripts = files.filter((f) => f.kind === "shell");
      assert.ok(scripts.length > 0 || (!s.upkeep.enabled && !s.backup.enabled), "the stack renders scripts");
      for (const f of scripts) {
        const r = spawnSync("bash", ["-n"], { input: f.content, encoding: "utf8" });
        assert.equal(r.status, 0, `${f.path}: ${r.stderr}`);
      }
      assert.notEqual(spawnSync("bash", ["-n"], { input: "if then fi\n", encoding: "utf8" }).status, 0);
    });

    test(`real \`nginx -t\` accepts the rendered site${s.nginx.tls ? " (TLS certificate in a mount namespace)" : ""}`, () => {
      const r = nginxTest(s, only(files, "nginx").content);
      assert.equal(r.status, 0, `nginx -t rejected ${only(files, "nginx").path}:\n${r.stderr}`);
      assert.match(r.stderr, /test is successful/);
    });

    test("real `nginx -t` rejects a broken copy of the site (the check can fail)", () => {
      const r = nginxTest(s, `${only(files, "nginx").content}\nserver { bogus_directive; }\n`);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /unknown directive "bogus_directive"/);
    });

    test(`real Synapse ${SYNAPSE_VERSION} config loader accepts homeserver.yaml, its app services, key and log config`, () => {
      const r = loadSynapseConfig(s, files);
      assert.equal(r.status, 0, `Synapse rejected the config:\n${r.stderr}`);
      const got = JSON.parse(r.stdout.trim().split("\n").pop()!);
      assert.deepEqual(got, {
        synapse_version: SYNAPSE_VERSION,
        server_name: s.domain,
        public_baseurl: `${publicBaseUrl(s)}/`,
        max_upload_size: s.synapse.maxUploadBytes,
        media_store_path: SYNAPSE_PATHS.mediaStore,
        // Local media has no Synapse lifetime: the upkeep job expires it by uploader.
        local_media_lifetime_ms: null,
        remote_media_lifetime_ms: durationMs(s.synapse.mediaRetention.remoteMediaLifetime),
        signing_key_ids: [secrets.signingKey.split(" ").slice(0, 2).join(":")],
        app_services: [
          ...enabledBridges(s).map((b) => ({ id: b.kind, sender_localpart: b.botLocalpart, url: appserviceUrl(s, b) })),
          // The double-puppet app service receives nothing (no URL); Synapse loads it as such.
          { id: "kit-doublepuppet", sender_localpart: "kit-doublepuppet", url: null },
        ],
        federation: expectedFederation(s),
      });
    });

    test(`real Synapse ${SYNAPSE_VERSION} config loader rejects max_upload_size: "lots" (the check can fail)`, () => {
      const r = loadSynapseConfig(s, files, (hs) => (hs.max_upload_size = "lots"));
      assert.notEqual(r.status, 0);
      // Synapse's parse_size fails on the value, in the traceback of the max_upload_size line.
      assert.match(r.stderr, /max_upload_size/);
      assert.match(r.stderr, /'lots'/);
    });

    if (s.cloudflare.enabled) {
      test("real workerd (miniflare) serves the rendered Worker: discovery JSON with CORS, 404 elsewhere", async () => {
        const mf = new Miniflare({ modules: true, script: only(files, "worker").content, compatibilityDate: COMPATIBILITY_DATE });
        try {
          const url = (p: string) => `https://${s.domain}${p}`;
          for (const [name, body] of [["server", serverWellKnown(s)], ["client", clientWellKnown(s)]] as const) {
            const res = await mf.dispatchFetch(url(`/.well-known/matrix/${name}`));
            if (body === null) {
              // Federation off: no m.server anywhere.
              assert.equal(res.status, 404, name);
              await res.arrayBuffer();
              continue;
            }
            assert.equal(res.status, 200);
            assert.equal(res.headers.get("content-type"), "application/json");
            assert.equal(res.headers.get("access-control-allow-origin"), "*");
            assert.deepEqual(await res.json(), body);
          }
          const preflight = await mf.dispatchFetch(url("/.well-known/matrix/client"), {
            method: "OPTIONS",
            headers: { Origin: "https://app.element.io", "Access-Control-Request-Method": "GET" },
          });
          assert.equal(preflight.status, 204);
          assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
          await preflight.arrayBuffer();
          for (const p of ["/other", "/.well-known/matrix/other"]) {
            const res = await mf.dispatchFetch(url(p));
            assert.equal(res.status, 404, p);
            await res.arrayBuffer();
          }
        } finally {
          await mf.dispose();
        }
      });
    }

    if (s.nginx.serveWellKnown) {
      test("real nginx on a loopback port serves /.well-known/matrix/* with JSON and CORS", async () => {
        requireTool("nginx", ["-v"]);
        assert.equal(s.nginx.tls, undefined, "this check speaks plain HTTP: extend it for a stack with TLS at nginx");
        const port = await freePort();
        const dir = tempDir("nginx-serve");
        const site = path.join(dir, "site.conf");
        // The changes to the rendered site: its listen lines (the stack's HTTP port on every
        // address) become one free port on 127.0.0.1, so the test needs no privileged port and
        // touches no other interface; IPv6 lines go, as a test machine may lack [::]. Synapse's
        // port becomes a stand-in's here, which names each path it was given (nginx's routing shows).
        const listen = new RegExp(`^(\\s*)listen (\\[::\\]:)?${s.nginx.httpPort};$`, "gm");
        const original = only(files, "nginx").content;
        const standIn = http.createServer((req, res) => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ proxied: req.url })));
        await new Promise<void>((resolve) => standIn.listen(0, "127.0.0.1", resolve));
        const synapse = `proxy_pass http://127.0.0.1:${s.synapse.hostPort};`;
        assert.ok(original.includes(synapse), `no \`${synapse}\` line to substitute`);
        const text = original
          .replace(listen, (_, indent: string, v6?: string) => (v6 ? "" : `${indent}listen 127.0.0.1:${port};`))
          .replaceAll(synapse, `proxy_pass http://127.0.0.1:${(standIn.address() as net.AddressInfo).port};`);
        assert.ok(original.match(listen), `no \`listen ${s.nginx.httpPort};\` line to substitute`);
        assert.deepEqual([...new Set(text.match(/^\s*listen .*$/gm)?.map((l) => l.trim()))], [`listen 127.0.0.1:${port};`]);
        fs.writeFileSync(site, text);
        const nginx = spawn("nginx", ["-p", dir, "-e", `${dir}/error.log`, "-c", privateNginxConf(dir, site), "-g", "daemon off;"], {
          stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        nginx.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        const exited = new Promise<void>((resolve) => nginx.on("exit", () => resolve()));
        try {
          await waitForPort(port, () => nginx.exitCode !== null || nginx.signalCode !== null, () => `${stderr}${readIfExists(`${dir}/error.log`)}`);
          for (const [name, body] of [["server", serverWellKnown(s)], ["client", clientWellKnown(s)]] as const) {
            const res = await request({ host: s.domain, port, path: `/.well-known/matrix/${name}` });
            if (body === null) {
              assert.equal(res.status, 404, `federation off: no ${name} well-known`);
              continue;
            }
            assert.equal(res.status, 200);
            assert.equal(res.headers["content-type"], "application/json");
            assert.equal(res.headers["access-control-allow-origin"], "*");
            assert.deepEqual(json(res), body);
          }
          const preflight = await request({ host: s.domain, port, path: "/.well-known/matrix/client", method: "OPTIONS" });
          assert.equal(preflight.status, 204);
          assert.equal(preflight.headers["access-control-allow-origin"], "*");
          // Federation's paths reach Synapse when it federates and get nginx's own 404 when it is
          // off; the client API reaches Synapse either way.
          const matrix = async (p: string) => {
            const res = await request({ host: s.matrixHost, port, path: p });
            return res.status === 200 ? json(res) : res.status;
          };
          const off = s.federation.mode === "off";
          for (const p of ["/_matrix/federation/v1/version", "/_matrix/key/v2/server"]) assert.deepEqual(await matrix(p), off ? 404 : { proxied: p }, p);
          assert.deepEqual(await matrix("/_matrix/client/versions"), { proxied: "/_matrix/client/versions" });
          if (s.matrixHost !== s.domain) {
            // Routing by Host is real: the Matrix host's block answers 404 outside the APIs.
            assert.equal((await request({ host: s.matrixHost, port, path: "/.well-known/matrix/client" })).status, 404);
          }
        } finally {
          nginx.kill("SIGTERM");
          await exited;
          standIn.close();
        }
      });
    }
  });
}
