/**
 * A STAND-IN DEPLOYMENT for `npm run verify`'s unit tests (test/unit/verify-runs.test.ts): one
 * HTTPS server with a certificate from a CA made here, playing the Worker (<domain>/.well-known),
 * host nginx and Synapse for several domains, each with its own behaviour ("good" is what the kit
 * deploys; the others, the mistakes verify must name). The e2e runs verify against the real
 * deployment (test/e2e/verify.ts). Differences from the real one:
 *   - nginx's body limit is judged from Content-Length alone, and an accepted upload waits for
 *     a body that never comes (verify sends none);
 *   - Synapse's answers are fixed documents: its version, a key document signed here, the
 *     media config's limit with the test's token;
 *   - the WeChat listener only checks the secret and answers the upgrade, no agent protocol.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { canonicalJson } from "../../infra/ops/verify/canonical";
import { makeCertificate } from "./tls";

/** Unpadded standard base64, as Matrix writes keys and signatures. */
export const b64 = (buf: Buffer) => buf.toString("base64").replace(/=+$/, "");
export const rawPublicKey = (k: KeyObject) => (k.export({ format: "der", type: "spki" }) as Buffer).subarray(-32);

/** A /_matrix/key/v2/server answer, self-signed the way Synapse does it. */
export function signKeyDoc(priv: KeyObject, pub: KeyObject, serverName: string, extra: Record<string, unknown>): Record<string, unknown> {
  const doc: Record<string, unknown> = { server_name: serverName, verify_keys: { "ed25519:auto": { key: b64(rawPublicKey(pub)) } }, old_verify_keys: {}, ...extra };
  const sig = b64(sign(null, Buffer.from(canonicalJson(doc)), priv));
  return { ...doc, signatures: { [serverName]: { "ed25519:auto": sig } } };
}

export const LIMIT = 1024 * 1024;
export const SECRET = "raw-listen-secret";
export const TOKEN = "syt_test_token";

/** How each stand-in domain behaves; "good" is what the kit deploys. */
export interface Behaviour {
  server: unknown;
  client: unknown;
  contentType: string;
  cors: boolean;
  optionsStatus: number;
  /** Bytes the "proxy" accepts; undefined: accepts anything (waits for the body). */
  proxyLimit?: number;
  adminOpen: boolean;
  tamperKeys: boolean;
  wechatChecksSecret: boolean;
  /** Headers the sticker picker page is served with (a frame ban breaks it in Element). */
  stickerHeaders: Record<string, string>;
  /** Whether /_matrix/federation and /_matrix/key answer (matrix:federation.mode off: nginx's 404). */
  federation: boolean;
}

const good = (base: string): Behaviour => ({
  server: { "m.server": `matrix.${base}:443` },
  client: { "m.homeserver": { base_url: `https://matrix.${base}` } },
  contentType: "application/json",
  cors: true,
  optionsStatus: 204,
  proxyLimit: LIMIT,
  adminOpen: false,
  tamperKeys: false,
  wechatChecksSecret: true,
  stickerHeaders: {},
  federation: true,
});

const BEHAVIOURS: Record<string, Behaviour> = {
  "good.test": good("good.test"),
  "bad.test": {
    ...good("bad.test"),
    // The three classic discovery mistakes at once; each must show in its own row.
    server: { "m.server": "matrix.bad.test:8448" },
    client: { "m.homeserver": { base_url: "https://wrong.bad.test/" } },
    contentType: "text/plain",
    cors: false,
    optionsStatus: 405,
    proxyLimit: 1024, // nginx's forgotten client_max_body_size
    adminOpen: true,
    tamperKeys: true,
    wechatChecksSecret: false,
    stickerHeaders: { "X-Frame-Options": "SAMEORIGIN" },
  },
  "lax.test": { ...good("lax.test"), proxyLimit: undefined, contentType: "application/json; charset=utf-8" },
  // What the kit deploys with matrix:federation.mode off: no m.server, no federation route.
  "closed.test": { ...good("closed.test"), server: undefined, federation: false },
};

/** The CA the stand-in edge's certificate chains to, and that certificate for every behaviour's names. */
export function makeCa(dir: string): { caPem: string; key: string; cert: string } {
  makeCertificate(dir, "server", ...Object.keys(BEHAVIOURS).flatMap((d) => [d, `matrix.${d}`]));
  const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
  return { caPem: read("ca.pem"), key: read("server.key"), cert: read("server.pem") };
}

function json(res: import("node:http").ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export function standInServer(tlsFiles: { key: string; cert: string }): https.Server {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const server = https.createServer(tlsFiles, (req, res) => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    const base = host.replace(/^matrix\./, "");
    const b = BEHAVIOURS[base];
    const url = new URL(req.url ?? "/", "https://x");
    if (!b) return json(res, 421, { error: "unknown host" });
    if (host === base) {
      const doc = url.pathname === "/.well-known/matrix/server" ? b.server : url.pathname === "/.well-known/matrix/client" ? b.client : undefined;
      if (doc === undefined) return json(res, 404, { errcode: "M_NOT_FOUND" });
      const cors: Record<string, string> = b.cors ? { "Access-Control-Allow-Origin": "*" } : {};
      if (req.method === "OPTIONS") {
        res.writeHead(b.optionsStatus, cors);
        return res.end();
      }
      res.writeHead(200, { "Content-Type": b.contentType, ...cors });
      return res.end(JSON.stringify(doc));
    }
    if (!b.federation && /^\/_matrix\/(federation|key)\//.test(url.pathname)) {
      res.writeHead(404, { "Content-Type": "text/html" });
      return res.end("<html><head><title>404 Not Found</title></head></html>");
    }
    switch (url.pathname) {
      case "/_matrix/federation/v1/version":
        return json(res, 200, { server: { name: "Synapse", version: "1.163.2" } });
      case "/_matrix/key/v2/server": {
        const doc = signKeyDoc(privateKey, publicKey, base, { valid_until_ts: Date.now() + 3_600_000 });
        return json(res, 200, b.tamperKeys ? { ...doc, valid_until_ts: (doc.valid_until_ts as number) + 1 } : doc);
      }
      case "/_matrix/client/versions":
        return json(res, 200, { versions: ["r0.6.1", "v1.1", "v1.11", "v1.12"] });
      case "/_matrix/client/v1/media/config":
      case "/_matrix/media/v3/config":
        // Synapse wants a token here; with one it announces max_upload_size.
        if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(res, 401, { errcode: "M_MISSING_TOKEN" });
        return json(res, 200, { "m.upload.size": LIMIT });
      case "/_matrix/media/v3/upload": {
        // nginx decides from Content-Length alone, before reading any body.
        const length = Number(req.headers["content-length"]);
        if (b.proxyLimit !== undefined && length > b.proxyLimit) return json(res, 413, { errcode: "M_TOO_LARGE" }, { Connection: "close" });
        return; // accepted: wait for a body that never comes
      }
      case "/stickers/":
        res.writeHead(200, { "Content-Type": "text/html", ...b.stickerHeaders });
        return res.end(fs.readFileSync("templates/stickers/index.html"));
      case "/_synapse/admin/v1/server_version":
        return b.adminOpen ? json(res, 200, { server_version: "1.163.2" }) : json(res, 404, { errcode: "M_UNRECOGNIZED" });
      default:
        return json(res, 404, { errcode: "M_UNRECOGNIZED" });
    }
  });
  server.on("upgrade", (req, socket) => {
    const base = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^matrix\./, "");
    const b = BEHAVIOURS[base];
    // matrix-wechat's listener compares the raw secret: "Basic <listen_secret>", no base64.
    const allowed = b && req.url === "/_wechat" && (!b.wechatChecksSecret || req.headers.authorization === `Basic ${SECRET}`);
    if (allowed) {
      const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    } else {
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
  });
  return server;
}
