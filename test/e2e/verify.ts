/**
 * `npm run verify` against the e2e deployment, registered inside the e2e suite's describe: a TLS
 * front with the run's CA stands in for Cloudflare's edge (test-only nginx server blocks, the
 * Worker in workerd behind <domain>); the good deployment passes every check, and each broken
 * variant (the front's or the kit's site changed by hand) fails the check that names it.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { Miniflare } from "miniflare";
import { runVerify } from "../../infra/ops/verify";
import { formatTable } from "../../infra/ops/verify/report";
import { targetFromSettings } from "../../infra/ops/verify/target";
import type { Settings } from "../../infra/settings";
import { reloadHostNginx } from "../harness/wait";

export interface VerifyContext {
  s: Settings;
  e2eDir: string;
  summary: string[];
  /** The Worker script the apply recorded. */
  workerScript: () => string;
  /** The WeChat bridge's listen secret, as rendered. */
  wechatSecret: () => string;
  tlsPort: number;
  workerPort: number;
  /** The front's server blocks (test-only, in the host nginx's conf.d). */
  frontConf: string;
  /** The kit's site file on the host. */
  kitSite: string;
}

export function verifyTests(ctx: VerifyContext): void {
  const { s } = ctx;
  describe("verify against the deployment, through a TLS front with a local CA", { concurrency: false }, () => {
    let front: Miniflare | undefined;
    let wechatSecret = "";

    function frontConf(wellKnownExtra: string): string {
      // Stands in for Cloudflare's edge: TLS with the run's CA, <domain> to the Worker (workerd),
      // the Matrix host streamed to host nginx (no size limit or buffering of its own).
      return `map $http_upgrade $e2e_front_connection { default upgrade; '' close; }
server {
    listen 127.0.0.1:${ctx.tlsPort} ssl;
    server_name ${s.domain};
    ssl_certificate ${ctx.e2eDir}/tls/server.pem;
    ssl_certificate_key ${ctx.e2eDir}/tls/server.key;
    location / {
        proxy_pass http://127.0.0.1:${ctx.workerPort};
        proxy_set_header Host $host;
${wellKnownExtra}
    }
}
server {
    listen 127.0.0.1:${ctx.tlsPort} ssl;
    server_name ${s.matrixHost};
    ssl_certificate ${ctx.e2eDir}/tls/server.pem;
    ssl_certificate_key ${ctx.e2eDir}/tls/server.key;
    client_max_body_size 0;
    proxy_request_buffering off;
    location / {
        proxy_pass http://127.0.0.1:${s.nginx.httpPort};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $e2e_front_connection;
        proxy_read_timeout 600s;
    }
}
`;
    }

    async function verifyNow(label: string) {
      const report = await runVerify({
        target: targetFromSettings(s),
        resolve: [s.domain, s.matrixHost].map((h) => ({ host: h, port: 443, address: "127.0.0.1", addressPort: ctx.tlsPort })),
        caPem: fs.readFileSync(`${ctx.e2eDir}/tls/ca.pem`, "utf8"),
        wechatSecret,
        timeoutMs: 10_000,
      });
      ctx.summary.push("", `verify: ${label}`, formatTable(report));
      return report;
    }

    before(async () => {
      wechatSecret = ctx.wechatSecret();
      front = new Miniflare({ modules: true, script: ctx.workerScript(), compatibilityDate: "2025-01-01", host: "127.0.0.1", port: ctx.workerPort });
      await front.ready;
      fs.writeFileSync(ctx.frontConf, frontConf(""));
      await reloadHostNginx();
    });

    after(async () => {
      fs.rmSync(ctx.frontConf, { force: true });
      await reloadHostNginx();
      await front?.dispose();
    });

    test("the good deployment passes every check", async () => {
      const report = await verifyNow("the e2e deployment");
      assert.deepEqual(report.checks.filter((c) => c.status !== "pass").map((c) => `${c.id}: ${c.observed}`), []);
    });

    const broken: { name: string; front?: string; site?: [RegExp, string]; fails: string[]; says: RegExp }[] = [
      { name: "no CORS header", front: "        proxy_hide_header Access-Control-Allow-Origin;", fails: ["well-known.server.cors", "well-known.client.cors"], says: /no Access-Control-Allow-Origin/ },
      { name: "well-known served as text/plain", front: "        proxy_hide_header Content-Type;\n        add_header Content-Type text/plain always;", fails: ["well-known.server.content-type"], says: /text\/plain/ },
      { name: "m.server pointing to a wrong port", front: `        location = /.well-known/matrix/server { add_header Access-Control-Allow-Origin * always; default_type application/json; return 200 '{"m.server":"${s.matrixHost}:8448"}'; }`, fails: ["well-known.server"], says: /8448/ },
      { name: "nginx's default 1 MB body limit", site: [/\n\s*client_max_body_size [^;]+;/, ""], fails: ["upload.under-limit"], says: /413/ },
      { name: "/_wechat without upgrade headers", site: [/\n\s*proxy_set_header Upgrade \$http_upgrade;\n\s*proxy_set_header Connection "upgrade";/, ""], fails: ["wechat.upgrade"], says: /./ },
      { name: "a frame ban on the sticker picker", site: [/add_header Cache-Control "no-cache";/, 'add_header Cache-Control "no-cache";\n        add_header X-Frame-Options DENY;'], fails: ["stickers.page"], says: /X-Frame-Options: DENY/ },
      // The e2e stack proxies the admin API for matrix:nginx.adminApiFrom: opened to everyone.
      { name: "admin API exposed", site: [/\n(\s*)deny all;/, "\n$1allow all;"], fails: ["admin.hidden"], says: /200/ },
    ];
    for (const b of broken) {
      test(`a broken deployment is caught: ${b.name}`, async () => {
        const original = fs.readFileSync(ctx.kitSite, "utf8");
        try {
          if (b.front !== undefined) fs.writeFileSync(ctx.frontConf, frontConf(b.front));
          if (b.site) {
            const changed = original.replace(b.site[0], b.site[1]);
            assert.notEqual(changed, original, "the breakage applies to the rendered site");
            fs.writeFileSync(ctx.kitSite, changed);
          }
          await reloadHostNginx();
          const report = await verifyNow(`broken: ${b.name}`);
          for (const id of b.fails) {
            const row = report.checks.find((c) => c.id === id);
            assert.equal(row?.status, "fail", `${id} must fail: ${JSON.stringify(row)}`);
            assert.match(row!.observed, b.says);
            assert.ok(row!.fix, "a failure says how to fix it");
          }
        } finally {
          fs.writeFileSync(ctx.kitSite, original);
          fs.writeFileSync(ctx.frontConf, frontConf(""));
          await reloadHostNginx();
        }
      });
    }
  });
}
