/** A minimal Docker Engine API client over a unix socket (what the docker provider speaks). */
import * as http from "node:http";

export class DockerApi {
  /** `version`: the API version in each request's path; the harness speaks 1.41 (Docker 20.10) unless told otherwise. */
  constructor(
    readonly socketPath: string,
    readonly version = "1.41",
  ) {}

  /** The same engine at another API version (what the provider's negotiation settled on). */
  at(version: string): DockerApi {
    return new DockerApi(this.socketPath, version);
  }

  /** The highest API version the engine speaks (its /version's ApiVersion). */
  async engineApiVersion(): Promise<string> {
    const { data } = await this.request<{ ApiVersion: string }>("GET", "/version");
    return data.ApiVersion;
  }

  request<T = unknown>(method: string, path: string, body?: unknown, okStatuses: number[] = [200, 201, 204, 304]): Promise<{ status: number; data: T }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path: `/v${this.version}${path}`,
          headers: payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let data: unknown = text;
            try {
              data = text ? JSON.parse(text) : undefined;
            } catch {
              /* logs and plain answers are not JSON */
            }
            const status = res.statusCode ?? 0;
            if (!okStatuses.includes(status)) reject(new Error(`docker ${method} ${path}: ${status} ${text.trim()}`));
            else resolve({ status, data: data as T });
          });
        },
      );
      req.on("error", reject);
      req.setTimeout(120_000, () => req.destroy(new Error(`docker ${method} ${path}: timed out`)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Container logs (stdout and stderr), demultiplexed. */
  async logs(id: string, tail = 80): Promise<string> {
    const { data } = await this.request<string>("GET", `/containers/${id}/logs?stdout=1&stderr=1&tail=${tail}`);
    // The multiplexed stream has 8-byte frame headers; strip the non-printing bytes for a readable tail.
    return String(data ?? "").replace(/[\x00-\x08\x0e-\x1f]/g, "");
  }
}
