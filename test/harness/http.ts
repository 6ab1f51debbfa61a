/**
 * Plain HTTP to 127.0.0.1 with an explicit Host header (node:http, not fetch: fetch
 * replaces the Host header, and nginx picks its server block by it).
 */
import * as http from "node:http";
import * as net from "node:net";

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  /** The Host header; the connection goes to `address`. */
  host: string;
  /** Where to connect (default 127.0.0.1, this machine's published ports). */
  address?: string;
  port: number;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs?: number;
  /** Source address of the connection (any 127.0.0.0/8 address on Linux): who nginx sees connecting. */
  localAddress?: string;
}

/**
 * One request, on the global agent's kept-alive connections as any Node client. A request sent
 * on a reused connection that the server had already closed (an idle keep-alive connection that
 * a reloading nginx's old worker shut while this process was blocked in a child process, so the
 * close was not yet seen) gets no answer at all: it is sent once more on a new connection. That
 * is what browsers do (Chromium resends a request whose reused connection closed before any
 * byte of an answer) and what Node's documentation advises (`request.reusedSocket`). As there,
 * a server that read a request and then reset its reused connection unanswered would get it
 * twice; nginx closes only idle connections on a reload, and answers what it has read.
 */
export async function request(o: RequestOptions): Promise<Answer> {
  try {
    return await requestOnce(o);
  } catch (e) {
    if (!(e as StaleConnection).staleConnection) throw e;
    return requestOnce(o);
  }
}

/** The error of a request that a reused connection's close cut off before any answer. */
type StaleConnection = Error & { staleConnection?: boolean };

function requestOnce(o: RequestOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = typeof o.body === "string" ? Buffer.from(o.body) : o.body;
    let answered = false;
    const req = http.request(
      {
        host: o.address ?? "127.0.0.1",
        port: o.port,
        localAddress: o.localAddress,
        method: o.method ?? "GET",
        path: o.path,
        headers: { Host: o.host, ...(body ? { "Content-Length": String(body.length) } : {}), ...(o.headers ?? {}) },
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.setTimeout(o.timeoutMs ?? 60_000, () => req.destroy(new Error(`${o.method ?? "GET"} ${o.path}: no answer in time`)));
    // A server may answer (413) before the whole body is sent; a write error after an answer is not a failure.
    req.on("error", (e: NodeJS.ErrnoException) => {
      if (answered) return;
      if (req.reusedSocket && (e.code === "ECONNRESET" || e.code === "EPIPE")) (e as StaleConnection).staleConnection = true;
      reject(e);
    });
    if (body) req.end(body);
    else req.end();
  });
}

export function json(a: Answer): any {
  return JSON.parse(a.body.toString("utf8"));
}

/** Try a WebSocket upgrade; resolves with the status line's code (101 when switched). */
export function upgrade(o: { host: string; port: number; path: string; authorization?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port: o.port,
      path: o.path,
      headers: {
        Host: o.host,
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...(o.authorization ? { Authorization: o.authorization } : {}),
      },
    });
    req.setTimeout(15_000, () => req.destroy(new Error("upgrade: no answer in time")));
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: "" });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
