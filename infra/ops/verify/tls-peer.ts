/**
 * One HTTPS request that also reports the certificate the server presented, whether or not it
 * is trusted (what `npm run verify` shows of a chain), optionally presenting a client certificate
 * (Cloudflare's edge presents one to an origin with authenticated origin pulls). Never rejects.
 */
import * as https from "node:https";
import { isIP } from "node:net";
import * as tls from "node:tls";
import { connectTarget, describeError, type ClientOptions, type Failure } from "./client";

export interface PeerCertificate {
  subject: string;
  issuer: string;
  /** DNS names it is for (subjectAltName). */
  names: string[];
  validTo: Date;
  /** Trusted by Node's roots and the extra CAs given; else why not (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE). */
  authorized: boolean;
  authorizationError?: string;
}

export type PeerAnswer = { ok: true; status: number; body: string; peer: PeerCertificate } | Failure;

export interface PeerOptions {
  /** CAs trusted besides Node's roots (PEM). */
  ca?: string[];
  /** A client certificate and its key (PEM), presented when the server asks. */
  clientCert?: { cert: string; key: string };
}

const text = (name: tls.Certificate | undefined) => (name ? Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`).join(", ") : "");

/** GET `url` (through the `--resolve` rules), reading the presented certificate before the answer. */
export function requestWithPeer(url: string, o: ClientOptions, p: PeerOptions = {}): Promise<PeerAnswer> {
  const u = new URL(url);
  const t = connectTarget(u, o.resolve);
  const where = { host: t.host, address: t.address, addressPort: t.addressPort };
  return new Promise((resolve) => {
    let peer: PeerCertificate | undefined;
    let settled = false;
    const finish = (r: PeerAnswer) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(r);
      }
    };
    const req = https.request(
      {
        host: t.address,
        port: t.addressPort,
        path: `${u.pathname}${u.search}`,
        headers: { Host: t.port === 443 ? u.hostname : `${u.hostname}:${t.port}`, "User-Agent": "matrix-kit-verify" },
        agent: false,
        // Read whatever it presents: whether it is trusted is reported, not enforced here.
        rejectUnauthorized: false,
        ...(isIP(t.host) === 0 ? { servername: t.host } : {}),
        ...(p.ca?.length || o.caPem ? { ca: [...tls.rootCertificates, ...(o.caPem ? [o.caPem] : []), ...(p.ca ?? [])] } : {}),
        ...(p.clientCert ? { cert: p.clientCert.cert, key: p.clientCert.key } : {}),
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          if (body.length < 4096) body += c.toString("utf8");
        });
        const done = () => finish(peer ? { ok: true, status: res.statusCode ?? 0, body, peer } : { ok: false, kind: "tls", message: `no certificate from ${t.address}:${t.addressPort}` });
        res.on("end", done);
        res.on("close", done);
      },
    );
    req.on("socket", (s) =>
      s.once("secureConnect", () => {
        const socket = s as tls.TLSSocket;
        const c = socket.getPeerCertificate();
        const names = (c.subjectaltname ?? "").split(", ").filter((n) => n.startsWith("DNS:")).map((n) => n.slice(4));
        peer = { subject: text(c.subject), issuer: text(c.issuer), names, validTo: new Date(c.valid_to), authorized: socket.authorized, authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined };
      }),
    );
    const timer = setTimeout(() => req.destroy(Object.assign(new Error("deadline passed"), { code: "ETIMEDOUT_VERIFY" })), o.timeoutMs);
    req.on("error", (e) => finish(describeError(e, where, o.timeoutMs)));
    req.end();
  });
}

/** Whether `name` is covered by one of `names` (a wildcard covers one label). */
export function covers(names: string[], name: string): boolean {
  return names.some((n) => n === name || (n.startsWith("*.") && name.endsWith(n.slice(1)) && name.split(".").length === n.split(".").length));
}
