/**
 * The HTTP(S) client of `npm run verify`: node:http/node:https rather than fetch,
 * because fetch cannot set the Host header, and `--resolve` (curl's --connect-to)
 * needs to connect to one address while presenting another name in SNI and Host.
 *
 * Nothing here throws for network trouble: every call resolves with either an
 * answer or a one-line description of what went wrong, so that a dead host shows
 * as a clear FAIL per check rather than a stack trace.
 */
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import { isIP } from "node:net";
import * as tls from "node:tls";

/** `--resolve host:port:address:port`: connect to address:port when the URL names host:port. */
export interface ResolveRule {
  host: string;
  port: number;
  address: string;
  addressPort: number;
}

export interface ClientOptions {
  resolve: ResolveRule[];
  /** Extra trusted CA certificates (PEM), trusted in addition to Node's bundled roots. */
  caPem?: string;
  /** Whole-request deadline: connect, TLS, answer and body. */
  timeoutMs: number;
}

/** Why a request got no answer, so a check can pick the fitting fix. */
export type FailureKind = "refused" | "timeout" | "dns" | "tls" | "reset" | "unreachable" | "other";

export interface Failure {
  ok: false;
  kind: FailureKind;
  /** One line, naming where we tried to connect. */
  message: string;
}

export interface Answer {
  ok: true;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Outcome = Answer | Failure;

/** Bodies we inspect are small JSON documents; a runaway answer must not eat memory. */
const MAX_BODY_BYTES = 1024 * 1024;

/** Parse one `--resolve` value; host and address may be bracketed IPv6 literals. */
export function parseResolve(text: string): ResolveRule | undefined {
  const m = /^(\[[^\]]+\]|[^:\[\]]+):(\d{1,5}):(\[[^\]]+\]|[^:\[\]]+):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  const addressPort = Number(m[4]);
  if (port < 1 || port > 65535 || addressPort < 1 || addressPort > 65535) return undefined;
  return { host: unbracket(m[1]).toLowerCase(), port, address: unbracket(m[3]), addressPort };
}

function unbracket(h: string): string {
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** Where a URL's host:port really goes, after `--resolve`. */
export function connectTarget(url: URL, rules: ResolveRule[]): { host: string; port: number; address: string; addressPort: number } {
  const host = unbracket(url.hostname).toLowerCase();
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const rule = rules.find((r) => r.host === host && r.port === port);
  return rule ? { ...rule } : { host, port, address: host, addressPort: port };
}

function display(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Turn a socket/TLS error into one line a self-hoster can act on. */
export function describeError(err: NodeJS.ErrnoException, where: { host: string; address: string; addressPort: number }, timeoutMs: number): Failure {
  const at = display(where.address, where.addressPort);
  const code = err.code ?? "";
  if (code === "ETIMEDOUT_VERIFY") return { ok: false, kind: "timeout", message: `no answer in ${timeoutMs / 1000} s from ${at}` };
  if (code === "ECONNREFUSED") return { ok: false, kind: "refused", message: `connection refused to ${at}` };
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NODATA") {
    return { ok: false, kind: "dns", message: `DNS: no address for ${where.address}` };
  }
  if (code === "ECONNRESET" || code === "EPIPE") return { ok: false, kind: "reset", message: `connection reset by ${at}` };
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EADDRNOTAVAIL") {
    return { ok: false, kind: "unreachable", message: `no route to ${at}` };
  }
  if (code === "ETIMEDOUT") return { ok: false, kind: "timeout", message: `connection to ${at} timed out` };
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return { ok: false, kind: "tls", message: `TLS: the certificate of ${at} is not valid for ${where.host}` };
  }
  if (code === "CERT_HAS_EXPIRED") return { ok: false, kind: "tls", message: `TLS: the certificate of ${at} has expired` };
  if (code === "CERT_NOT_YET_VALID") return { ok: false, kind: "tls", message: `TLS: the certificate of ${at} is not yet valid` };
  if (/CERT|SELF_SIGNED|UNABLE_TO_/.test(code)) {
    return { ok: false, kind: "tls", message: `TLS: unable to verify certificate of ${at} (${code})` };
  }
  if (code === "EPROTO" || code.startsWith("ERR_SSL_")) {
    // The usual cause: a plain-HTTP listener (nginx without `ssl` on that port) answering a TLS hello.
    return { ok: false, kind: "tls", message: `TLS handshake with ${at} failed (plain HTTP on that port?)` };
  }
  const first = (err.message || String(err)).split("\n")[0];
  return { ok: false, kind: "other", message: `${code ? `${code}: ` : ""}${first} (${at})` };
}

interface Prepared {
  url: URL;
  where: { host: string; address: string; addressPort: number };
  options: https.RequestOptions;
  transport: typeof http | typeof https;
}

/** Build request options: connect to the resolved address, speak the URL's name in SNI and Host. */
function prepare(urlText: string, method: string, headers: Record<string, string>, o: ClientOptions): Prepared {
  const url = new URL(urlText);
  const t = connectTarget(url, o.resolve);
  const isHttps = url.protocol === "https:";
  const defaultPort = isHttps ? 443 : 80;
  const hostHeader = t.port === defaultPort ? url.hostname : `${url.hostname}:${t.port}`;
  const options: https.RequestOptions = {
    host: t.address,
    port: t.addressPort,
    method,
    path: `${url.pathname}${url.search}`,
    headers: { Host: hostHeader, "User-Agent": "matrix-kit-verify", ...headers },
    // No pooling: each check sees a fresh connection, and nothing keeps the process alive.
    agent: false,
  };
  if (isHttps) {
    // SNI must not carry an IP address (RFC 6066 §3); the certificate check still uses `host`.
    if (isIP(t.host) === 0) options.servername = t.host;
    if (o.caPem) options.ca = [...tls.rootCertificates, o.caPem];
  }
  return { url, where: { host: t.host, address: t.address, addressPort: t.addressPort }, options, transport: isHttps ? https : http };
}

function timeoutError(): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error("deadline passed");
  e.code = "ETIMEDOUT_VERIFY";
  return e;
}

export interface RequestSpec {
  url: string;
  method?: string;
  headers?: Record<string, string>;
}

/** One request with a whole-request deadline; never rejects. */
export function request(spec: RequestSpec, o: ClientOptions): Promise<Outcome> {
  const p = prepare(spec.url, spec.method ?? "GET", spec.headers ?? {}, o);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = p.transport.request(p.options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY_BYTES) chunks.push(c);
        else res.destroy();
      });
      const done = () =>
        finish({ ok: true, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.on("end", done);
      // A body cut short still leaves the status and headers worth reporting.
      res.on("close", done);
      res.on("error", done);
    });
    const timer = setTimeout(() => req.destroy(timeoutError()), o.timeoutMs);
    req.on("error", (e) => finish(describeError(e, p.where, o.timeoutMs)));
    req.end();
  });
}

export type UpgradeOutcome = { ok: true; status: number; body: string } | Failure;

/** Ask for a WebSocket upgrade; status 101 means the server switched protocols. */
export function upgrade(urlText: string, headers: Record<string, string>, o: ClientOptions): Promise<UpgradeOutcome> {
  const p = prepare(
    urlText,
    "GET",
    {
      Connection: "Upgrade",
      Upgrade: "websocket",
      "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
      ...headers,
    },
    o,
  );
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: UpgradeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = p.transport.request(p.options);
    const timer = setTimeout(() => req.destroy(timeoutError()), o.timeoutMs);
    req.on("upgrade", (res, socket) => {
      // We only want to know the listener accepted us; hang up straight away.
      socket.destroy();
      finish({ ok: true, status: res.statusCode ?? 0, body: "" });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        if (body.length < 4096) body += c.toString("utf8");
      });
      res.on("end", () => finish({ ok: true, status: res.statusCode ?? 0, body }));
      res.on("close", () => finish({ ok: true, status: res.statusCode ?? 0, body }));
    });
    req.on("error", (e) => finish(describeError(e, p.where, o.timeoutMs)));
    req.end();
  });
}

export type ProbeOutcome =
  | { ok: true; answered: true; status: number; afterMs: number }
  /** Connected and sent the headers, and the server said nothing within the wait: it wants the body. */
  | { ok: true; answered: false; waitedMs: number }
  | Failure;

/**
 * Send only a request's headers (e.g. a Content-Length far larger than what we
 * send) and see whether the server answers within `waitMs` of the connection
 * being up. A proxy that refuses the size answers at once (nginx checks
 * Content-Length against client_max_body_size before reading the body); one
 * that accepts it sits waiting for the body. Connecting is still bounded by the
 * whole-request timeout, so a slow handshake is not mistaken for acceptance.
 */
export function probeHeadersOnly(spec: RequestSpec & { waitMs: number }, o: ClientOptions): Promise<ProbeOutcome> {
  const p = prepare(spec.url, spec.method ?? "POST", spec.headers ?? {}, o);
  return new Promise((resolve) => {
    let settled = false;
    let sentAt = 0;
    let waitTimer: NodeJS.Timeout | undefined;
    const finish = (r: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (waitTimer) clearTimeout(waitTimer);
      // The body will never come: drop the connection so the server stops waiting too.
      req.destroy();
      resolve(r);
    };
    const req = p.transport.request(p.options, (res) => {
      res.resume();
      finish({ ok: true, answered: true, status: res.statusCode ?? 0, afterMs: sentAt ? Date.now() - sentAt : 0 });
    });
    const timer = setTimeout(() => req.destroy(timeoutError()), o.timeoutMs);
    const startWaiting = () => {
      if (sentAt) return;
      sentAt = Date.now();
      clearTimeout(timer);
      waitTimer = setTimeout(() => finish({ ok: true, answered: false, waitedMs: spec.waitMs }), spec.waitMs);
    };
    req.on("socket", (socket) => {
      // TLS sockets are "connected" only after the handshake; plain ones at connect.
      socket.once(p.transport === https ? "secureConnect" : "connect", startWaiting);
    });
    // A server that answers 413 and closes may make our (unfinished) request error; the answer wins.
    req.on("error", (e) => finish(describeError(e, p.where, o.timeoutMs)));
    req.flushHeaders();
  });
}
