/**
 * npm run cloudflare-ips: Cloudflare's lists and its origin-pull CA parsed, validated and written
 * with the day's date. The internet is not reachable here, so the lists come from an INJECTED FETCH (a
 * function standing in for Cloudflare) or, for the real fetch, from a loopback HTTP server.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  CLOUDFLARE_IPS_FILE,
  CLOUDFLARE_IPS_SOURCES,
  cloudflareIpsText,
  fetchText,
  refreshCloudflareIps,
  type CloudflareIps,
  type FetchText,
} from "../../infra/ops/cloudflare-ips";
import { ORIGIN_PULL_CA_FILE, ORIGIN_PULL_CA_SOURCE, parseOriginPullCa, refreshOriginPullCa, type OriginPullCa } from "../../infra/ops/cloudflare-origin-pull-ca";
import { freePort } from "../harness/http";
import { makeCertificate } from "../harness/tls";
import { stackSettings } from "../harness/stacks";

const kept = JSON.parse(fs.readFileSync(CLOUDFLARE_IPS_FILE, "utf8")) as CloudflareIps;
const day = new Date("2027-02-03T23:59:00Z");

/** The injected fetch: answers each of Cloudflare's two URLs with the given text. */
const injected = (v4: string, v6: string): FetchText => async (url) => {
  if (url === CLOUDFLARE_IPS_SOURCES.ipv4) return v4;
  if (url === CLOUDFLARE_IPS_SOURCES.ipv6) return v6;
  throw new Error(`unexpected URL ${url}`);
};

function tempCopy(): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cf-ips-")), "cloudflare-ips.json");
  fs.copyFileSync(CLOUDFLARE_IPS_FILE, file);
  return file;
}

describe("npm run cloudflare-ips, with an injected fetch standing in for Cloudflare", () => {
  test("both lists are parsed (blank lines and CRLF as published), written with the day's date, and the changes reported", async () => {
    const file = tempCopy();
    const v4 = [...kept.ipv4.filter((r) => r !== "131.0.72.0/22"), "192.0.2.0/24"];
    const r = await refreshCloudflareIps(injected(`${v4.join("\r\n")}\r\n`, `\n${kept.ipv6.join("\n")}\n\n`), day, file);
    assert.deepEqual(r.added, ["192.0.2.0/24"]);
    assert.deepEqual(r.removed, ["131.0.72.0/22"]);
    const written = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.equal(written.fetched, "2027-02-03");
    assert.deepEqual(written.ipv4, v4);
    assert.deepEqual(written.ipv6, kept.ipv6);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["cloudflare-ips.json"], "no temporary file left");
  });

  for (const [name, v4, v6, says] of [
    ["an HTML error page", "<html><body>Error 1020</body></html>", kept.ipv6.join("\n"), /ips-v4 line 1 is not an IPv4 range: "<html>/],
    ["an IPv6 range in the IPv4 list", `${kept.ipv4[0]}\n2400:cb00::/32`, kept.ipv6.join("\n"), /ips-v4 line 2 is not an IPv4 range: "2400:cb00::\/32"/],
    ["a range without its prefix length", kept.ipv4.join("\n"), "2400:cb00::", /ips-v6 line 1 is not an IPv6 range/],
    ["a prefix too long for IPv4", "104.16.0.0/33", kept.ipv6.join("\n"), /ips-v4 line 1 is not an IPv4 range/],
    ["an empty list", kept.ipv4.join("\n"), "\n\n", /ips-v6 lists no ranges/],
  ] as const) {
    test(`${name}: refused, naming the URL and line, the file unchanged`, async () => {
      const file = tempCopy();
      const before = fs.readFileSync(file, "utf8");
      await assert.rejects(refreshCloudflareIps(injected(v4, v6), day, file), says);
      assert.equal(fs.readFileSync(file, "utf8"), before);
    });
  }
});

describe("the kit's list", () => {
  test("is in the very form the command writes, dated, with both families", () => {
    assert.equal(cloudflareIpsText(kept), fs.readFileSync(CLOUDFLARE_IPS_FILE, "utf8"));
    assert.match(kept.fetched, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(kept.ipv4.length > 0 && kept.ipv6.length > 0);
  });

  test("is what nginx believes CF-Connecting-IP from in a Cloudflare-proxied stack (prod), and in no stack without Cloudflare (local)", () => {
    assert.deepEqual(stackSettings("prod").nginx.trustedProxies, [...kept.ipv4, ...kept.ipv6]);
    assert.deepEqual(stackSettings("local").nginx.trustedProxies, []);
  });
});

describe("the real fetch (node's), against a loopback HTTP server", () => {
  test("a 200's body is returned; any other status, or nothing listening, fails naming the URL", async () => {
    const srv = http.createServer((req, res) => {
      res.writeHead(req.url === "/ips-v4" ? 200 : 503);
      res.end(req.url === "/ips-v4" ? "104.16.0.0/13\n" : "busy");
    });
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      assert.equal(await fetchText(`${base}/ips-v4`), "104.16.0.0/13\n");
      await assert.rejects(fetchText(`${base}/ips-v6`), new RegExp(`^Error: ${base}/ips-v6 answered HTTP 503$`));
    } finally {
      await new Promise((resolve) => srv.close(resolve));
    }
    await assert.rejects(fetchText(`http://127.0.0.1:${await freePort()}/ips-v4`), /could not be fetched: connect ECONNREFUSED/);
  });
});

describe("the origin-pull CA, with an injected fetch standing in for Cloudflare", () => {
  const keptCa = JSON.parse(fs.readFileSync(ORIGIN_PULL_CA_FILE, "utf8")) as OriginPullCa;
  const caCopy = () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cf-ca-")), "cloudflare-origin-pull-ca.json");
    fs.copyFileSync(ORIGIN_PULL_CA_FILE, file);
    return file;
  };
  const serving = (text: string): FetchText => async (url) => {
    assert.equal(url, ORIGIN_PULL_CA_SOURCE);
    return text;
  };

  test("the kit's copy is Cloudflare's CA in the very form the command writes (subject, end and fingerprint read from its PEM)", async () => {
    const file = caCopy();
    const r = await refreshOriginPullCa(serving(keptCa.pem), day, file);
    assert.equal(r.changed, false);
    assert.equal(r.ca.subject, "C=US, O=CloudFlare, Inc., OU=Origin Pull, L=San Francisco, ST=California, CN=origin-pull.cloudflare.net");
    const { note: _note, fetched: _fetched, ...written } = JSON.parse(fs.readFileSync(file, "utf8")) as OriginPullCa;
    const { note: _keptNote, fetched: _keptFetched, ...kept } = keptCa;
    assert.deepEqual(written, kept);
    assert.equal(r.ca.fetched, "2027-02-03");
  });

  for (const [name, text, says] of [
    ["an HTML error page", "<html><body>Error 1020</body></html>", /holds 0 PEM certificates, not one: "<html>/],
    ["two certificates", `${keptCa.pem}${keptCa.pem}`, /holds 2 PEM certificates/],
    ["a broken certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", /is not a certificate/],
  ] as const) {
    test(`${name}: refused, naming the URL, the file unchanged`, async () => {
      const file = caCopy();
      const before = fs.readFileSync(file, "utf8");
      await assert.rejects(refreshOriginPullCa(serving(text), day, file), says);
      assert.equal(fs.readFileSync(file, "utf8"), before);
    });
  }

  test("a server's certificate (not a CA), or a CA past its end, is refused", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cf-ca-leaf-"));
    makeCertificate(dir, "leaf", "origin-pull.example");
    assert.throws(() => parseOriginPullCa(fs.readFileSync(path.join(dir, "leaf.pem"), "utf8"), day), /is not a CA certificate \(CN=origin-pull\.example\)/);
    assert.throws(() => parseOriginPullCa(keptCa.pem, new Date("2030-01-01T00:00:00Z")), /is not valid on 2030-01-01/);
  });
});
