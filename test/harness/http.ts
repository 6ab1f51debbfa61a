/** Plain HTTP against host nginx with an explicit Host header (as the internet would reach it). */
import * as http from "node:http";

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  host: string;
  port: number;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs?: number;
}

export function request(o: RequestOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = typeof o.body === "string" ? Buffer.from(o.body) : o.body;
    let answered = false;
    const req = http.request(
      {
        host: "127.0.0.1",
        port: o.port,
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
    req.on("error", (e) => {
      if (!answered) reject(e);
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
