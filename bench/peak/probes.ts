/**
 * What the rest of the VPS feels: the e2e's other nginx site (test/e2e/vps.sh) fetched and an
 * ssh command run once a second each, every result labelled with the phase it fell in (idle,
 * burst, clients), so idle and loaded figures come from the same run. And the load nginx must
 * carry: n concurrent clients through the Matrix site for a while, counting every status.
 */
import { execFile } from "node:child_process";
import { request } from "../../test/harness/http";
import { percentile } from "../footprint/workload";

const E2E_DIR = process.env.E2E_DIR ?? "/tmp/matrix-kit-e2e";
const OTHER_PORT = Number(process.env.E2E_OTHER_PORT ?? 8481);

export interface ProbeFigures {
  count: number;
  failures: number;
  p50: number;
  p99: number;
}

interface Probe {
  kind: "site" | "ssh";
  phase: string;
  ms: number;
  ok: boolean;
}

export function figures(latencies: number[], failures = 0): ProbeFigures {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { count: sorted.length, failures, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

function sshTrue(): Promise<boolean> {
  const args = ["-i", `${E2E_DIR}/id_ed25519`, "-p", "2222", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${E2E_DIR}/known_hosts`, "-o", "ConnectTimeout=20", "root@127.0.0.1", "true"];
  return new Promise((resolve) => execFile("ssh", args, { timeout: 30_000 }, (e) => resolve(!e)));
}

async function siteOk(): Promise<boolean> {
  try {
    const r = await request({ host: "other.localhost", port: OTHER_PORT, path: "/", timeoutMs: 30_000 });
    return r.status === 200 && r.body.toString() === "other site\n";
  } catch {
    return false;
  }
}

export class Prober {
  phase = "idle";
  private readonly probes: Probe[] = [];
  private readonly open = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;

  private fire(kind: Probe["kind"], f: () => Promise<boolean>): void {
    const phase = this.phase;
    const t0 = Date.now();
    const p = f().then((ok) => void this.probes.push({ kind, phase, ms: Date.now() - t0, ok }));
    this.open.add(p);
    void p.finally(() => this.open.delete(p));
  }

  begin(): void {
    // Not awaited: a slow answer must not delay the next probe (that would hide the slowness).
    this.timer = setInterval(() => {
      this.fire("site", siteOk);
      this.fire("ssh", sshTrue);
    }, 1000);
  }

  async end(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.open);
  }

  /** p50/p99 of the successful probes, and the failures, of one kind in one phase. */
  of(kind: Probe["kind"], phase: string): ProbeFigures {
    const mine = this.probes.filter((p) => p.kind === kind && p.phase === phase);
    return figures(mine.filter((p) => p.ok).map((p) => p.ms), mine.filter((p) => !p.ok).length);
  }
}

export interface ClientsResult {
  clients: number;
  seconds: number;
  requests: number;
  /** Per status ("network" for no answer). */
  statuses: Record<string, number>;
  fiveXX: number;
  latency: ProbeFigures;
}

/**
 * n clients of the owner's through nginx (Host: the Matrix host) for `seconds`, each in a loop:
 * a message sent to the room, then its last 20 messages read, as a busy client does.
 */
export async function concurrentClients(o: { port: number; host: string; token: string; roomId: string; clients: number; seconds: number }): Promise<ClientsResult> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const until = Date.now() + o.seconds * 1000;
  const headers = { Authorization: `Bearer ${o.token}`, "Content-Type": "application/json" };
  const room = encodeURIComponent(o.roomId);
  const one = async (method: string, path: string, body?: string) => {
    const t0 = Date.now();
    let status = "network";
    try {
      status = String((await request({ host: o.host, port: o.port, method, path, headers, body, timeoutMs: 60_000 })).status);
    } catch {
      // counted as "network"
    }
    latencies.push(Date.now() - t0);
    statuses[status] = (statuses[status] ?? 0) + 1;
  };
  let n = 0;
  await Promise.all(
    Array.from({ length: o.clients }, async (_, c) => {
      while (Date.now() < until) {
        await one("PUT", `/_matrix/client/v3/rooms/${room}/send/m.room.message/peak-client-${c}-${n++}`, JSON.stringify({ msgtype: "m.text", body: `client ${c}` }));
        await one("GET", `/_matrix/client/v3/rooms/${room}/messages?dir=b&limit=20`);
      }
    }),
  );
  const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
  const fiveXX = Object.entries(statuses).filter(([s]) => s.startsWith("5")).reduce((a, [, v]) => a + v, 0);
  return { clients: o.clients, seconds: o.seconds, requests, statuses, fiveXX, latency: figures(latencies) };
}
