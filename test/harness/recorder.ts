/**
 * The recording client of the fault tests: it keeps sending messages
 * (and every few sends an upload) through nginx as the owner's client would,
 * records every acknowledged event id and mxc URI with the upload's digest, and
 * afterwards reads all of them back. A send that fails (no answer, 5xx) is not
 * acknowledged and not expected; one that was acknowledged must be found.
 */
import { createHash, randomBytes } from "node:crypto";
import { json, request, type Answer } from "./http";

export interface RecorderTarget {
  host: string;
  port: number;
  token: string;
  roomId: string;
}

export interface Recording {
  acknowledged: { messages: number; uploads: number };
  found: { messages: number; uploads: number };
  lost: string[];
  /** Failed sends by status ("network": no answer). */
  failures: Record<string, number>;
  /** Seconds from `markFault()` to the first send acknowledged after it. */
  recoverySeconds?: number;
}

export class Recorder {
  private readonly events: string[] = [];
  private readonly media: { mxc: string; sha256: string }[] = [];
  private readonly failures: Record<string, number> = {};
  private running = false;
  private loop?: Promise<void>;
  private faultAt?: number;
  /** When the fault's action returned: only a send started after it shows recovery. */
  private faultDoneAt?: number;
  private recoveredAt?: number;
  private n = 0;

  constructor(private readonly t: RecorderTarget, private readonly opts = { perSecond: 5, uploadEvery: 5, uploadBytes: 64 * 1024 }) {}

  private call(method: string, path: string, body?: Buffer, type = "application/json"): Promise<Answer> {
    return request({
      host: this.t.host,
      port: this.t.port,
      method,
      path,
      headers: { Authorization: `Bearer ${this.t.token}`, ...(body ? { "Content-Type": type } : {}) },
      body,
      timeoutMs: 15_000,
    });
  }

  private fail(status: string): void {
    this.failures[status] = (this.failures[status] ?? 0) + 1;
  }

  private acked(startedAt: number): void {
    if (this.faultDoneAt !== undefined && startedAt >= this.faultDoneAt && this.recoveredAt === undefined) this.recoveredAt = Date.now();
  }

  /** One send: a text, or every `uploadEvery`th an upload and the message that carries it. */
  private async sendOne(): Promise<void> {
    const i = this.n++;
    const startedAt = Date.now();
    let content: Record<string, unknown> = { msgtype: "m.text", body: `recorded ${i}` };
    if (i % this.opts.uploadEvery === 0) {
      const data = randomBytes(this.opts.uploadBytes);
      let up: Answer;
      try {
        up = await this.call("POST", `/_matrix/media/v3/upload?filename=rec-${i}.bin`, data, "application/octet-stream");
      } catch {
        return this.fail("network");
      }
      if (up.status !== 200) return this.fail(String(up.status));
      const mxc = json(up).content_uri as string;
      this.media.push({ mxc, sha256: createHash("sha256").update(data).digest("hex") });
      this.acked(startedAt);
      content = { msgtype: "m.file", body: `rec-${i}.bin`, url: mxc };
    }
    let sent: Answer;
    try {
      sent = await this.call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(this.t.roomId)}/send/m.room.message/rec-${Date.now()}-${i}`, Buffer.from(JSON.stringify(content)));
    } catch {
      return this.fail("network");
    }
    if (sent.status !== 200) return this.fail(String(sent.status));
    this.events.push(json(sent).event_id);
    this.acked(startedAt);
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const next = Date.now() + 1000 / this.opts.perSecond;
        await this.sendOne();
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    })();
  }

  /** The fault happens now: recovery is measured from here. */
  markFault(): void {
    this.faultAt = Date.now();
    this.faultDoneAt = undefined;
    this.recoveredAt = undefined;
  }

  /** The fault's action has returned (a kill sent, a restart command done). */
  faultDone(): void {
    this.faultDoneAt = Date.now();
  }

  /** Waits for a send started after the fault's action and acknowledged: seconds from the fault. */
  async recovered(timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    while (this.recoveredAt === undefined) {
      if (Date.now() > until) throw new Error(`no send acknowledged within ${timeoutMs / 1000} s of the fault`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return (this.recoveredAt - this.faultAt!) / 1000;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Reads every acknowledged event (the room's history) and upload (byte-identical) back. */
  async verify(): Promise<Recording> {
    const seen = new Set<string>();
    let from = "";
    for (;;) {
      const page = json(await this.call("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(this.t.roomId)}/messages?dir=b&limit=500${from ? `&from=${encodeURIComponent(from)}` : ""}`));
      for (const e of page.chunk as { event_id: string }[]) seen.add(e.event_id);
      if (!page.end || page.chunk.length === 0) break;
      from = page.end;
    }
    const lost = this.events.filter((e) => !seen.has(e));
    let foundUploads = 0;
    for (const m of this.media) {
      const [server, id] = m.mxc.slice("mxc://".length).split("/");
      const got = await this.call("GET", `/_matrix/client/v1/media/download/${server}/${id}`);
      if (got.status === 200 && createHash("sha256").update(got.body).digest("hex") === m.sha256) foundUploads++;
      else lost.push(`${m.mxc} (download ${got.status})`);
    }
    return {
      acknowledged: { messages: this.events.length, uploads: this.media.length },
      found: { messages: this.events.filter((e) => seen.has(e)).length, uploads: foundUploads },
      lost,
      failures: { ...this.failures },
      recoverySeconds: this.faultAt !== undefined && this.recoveredAt !== undefined ? (this.recoveredAt - this.faultAt) / 1000 : undefined,
    };
  }
}
