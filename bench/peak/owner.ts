/**
 * The owner's client during the peak, through nginx as Element reaches it: a message sent to the
 * owner's own room every two seconds (send latency: the PUT's answer), and a /sync long-poll that
 * must deliver each of them (sync latency: from the send starting to the event in /sync). The
 * owner is in every portal, so its /sync carries the whole burst, as it would in the evening.
 */
import { request } from "../../test/harness/http";
import { figures, type ProbeFigures } from "./probes";

export interface OwnerFigures {
  send: ProbeFigures;
  sync: ProbeFigures;
  /** Sends acknowledged but never seen in /sync by the end. */
  undelivered: number;
}

interface Sent {
  phase: string;
  started: number;
  sendMs?: number;
  syncMs?: number;
  failed?: boolean;
}

export class OwnerClient {
  phase = "idle";
  private readonly sent = new Map<string, Sent>();
  private readonly stop = new AbortController();
  private loops: Promise<void>[] = [];
  private n = 0;

  constructor(private readonly o: { port: number; host: string; token: string; roomId: string }) {}

  private call(method: string, path: string, body?: unknown) {
    return request({
      host: this.o.host,
      port: this.o.port,
      method,
      path,
      headers: { Authorization: `Bearer ${this.o.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      timeoutMs: 90_000,
    });
  }

  private async syncLoop(): Promise<void> {
    const filter = encodeURIComponent(JSON.stringify({ room: { state: { lazy_load_members: true }, timeline: { limit: 50 } } }));
    let since = "";
    while (!this.stop.signal.aborted) {
      try {
        const r = await this.call("GET", `/_matrix/client/v3/sync?timeout=30000&filter=${filter}${since ? `&since=${encodeURIComponent(since)}` : ""}`);
        if (r.status !== 200) throw new Error(String(r.status));
        const body = JSON.parse(r.body.toString());
        const now = Date.now();
        for (const e of body.rooms?.join?.[this.o.roomId]?.timeline?.events ?? []) {
          const s = this.sent.get(e.content?.body);
          if (s && s.syncMs === undefined && since) s.syncMs = now - s.started;
        }
        since = body.next_batch;
      } catch {
        if (!this.stop.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async sendLoop(): Promise<void> {
    while (!this.stop.signal.aborted) {
      const body = `owner ${this.n++} ${Date.now()}`;
      const s: Sent = { phase: this.phase, started: Date.now() };
      this.sent.set(body, s);
      const send = this.call("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(this.o.roomId)}/send/m.room.message/${encodeURIComponent(body)}`, { msgtype: "m.text", body })
        .then((r) => (r.status === 200 ? (s.sendMs = Date.now() - s.started) : (s.failed = true)))
        .catch(() => (s.failed = true));
      // The next one two seconds after this one started, or when it is answered if later: a person waits.
      await Promise.all([send, new Promise((r) => setTimeout(r, 2000))]);
    }
  }

  begin(): void {
    this.loops = [this.syncLoop(), this.sendLoop()];
  }

  /** Stops sending, gives /sync a few seconds to deliver the last ones. */
  async end(): Promise<void> {
    this.phase = "done";
    const pending = () => [...this.sent.values()].some((s) => s.phase !== "done" && s.sendMs !== undefined && s.syncMs === undefined);
    for (let i = 0; i < 30 && pending(); i++) await new Promise((r) => setTimeout(r, 1000));
    this.stop.abort();
    // The long-poll may wait its 30 s for nothing: not for it.
    await Promise.race([Promise.all(this.loops), new Promise((r) => setTimeout(r, 1000))]);
  }

  of(phase: string): OwnerFigures {
    const mine = [...this.sent.values()].filter((s) => s.phase === phase);
    const acked = mine.filter((s) => s.sendMs !== undefined);
    return {
      send: figures(acked.map((s) => s.sendMs!), mine.filter((s) => s.failed).length),
      sync: figures(acked.filter((s) => s.syncMs !== undefined).map((s) => s.syncMs!)),
      undelivered: acked.filter((s) => s.syncMs === undefined).length,
    };
  }
}
