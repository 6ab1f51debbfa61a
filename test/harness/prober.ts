/**
 * A client that probes a site every `everyMs` while something else happens (a failed update).
 * It runs in a process of its own: the work it watches (a program run under Pulumi's mock
 * runtime) can hold this process's event loop for seconds, and probes made from here would
 * then pause exactly while they matter. Each probe is kept with its start and end time, so a
 * test can show that the probing covered the work without a gap.
 */
import { spawn } from "node:child_process";

/** Like test/harness/http.ts's request: a connection to 127.0.0.1, `host` in the Host header. */
export interface ProbeTarget {
  host: string;
  port: number;
  path: string;
  headers?: Record<string, string>;
  /** A right answer is a 200 whose body includes this. */
  bodyIncludes: string;
}

export interface Probe {
  start: number;
  end: number;
  /** Undefined when the answer was right; otherwise what the probe saw. */
  wrong?: string;
}

export interface ProbeResult {
  total: number;
  /** Probes started and finished while the watched work ran. */
  duringWork: number;
  /** The longest time between two probes' starts from the work's start to its end, in ms. */
  longestGapMs: number;
  workMs: number;
  /** What each failed probe saw (empty: every probe passed). */
  failures: string[];
}

/** The probing process: one request at a time, a new one every `everyMs`, a JSON line per probe. */
const CHILD = `
const http = require("node:http");
const [target, everyMs] = [JSON.parse(process.argv[1]), Number(process.argv[2])];
const once = () => new Promise((resolve) => {
  const start = Date.now();
  const done = (wrong) => resolve({ start, end: Date.now(), ...(wrong === undefined ? {} : { wrong }) });
  const req = http.get({ host: "127.0.0.1", port: target.port, path: target.path, headers: { Host: target.host, ...target.headers }, timeout: 2000 }, (res) => {
    let body = "";
    res.on("data", (d) => (body += d));
    res.on("end", () => done(res.statusCode === 200 && body.includes(target.bodyIncludes) ? undefined : res.statusCode + " " + body.slice(0, 200)));
  });
  req.on("timeout", () => req.destroy(new Error("no answer in 2 s")));
  req.on("error", (e) => done(e.message));
});
(async () => {
  for (;;) {
    const p = await once();
    process.stdout.write(JSON.stringify(p) + "\\n");
    await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (p.end - p.start))));
  }
})();
`;

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Starts probing at once; `watch(work)` runs `work` and notes when it ran; `stop()` ends the probing. */
export function startProber(target: ProbeTarget, everyMs = 100) {
  const child = spawn(process.execPath, ["-e", CHILD, JSON.stringify(target), String(everyMs)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  let work = { from: 0, to: 0 };
  return {
    async watch<T>(fn: () => Promise<T>): Promise<T> {
      await sleep(3 * everyMs);
      work = { from: Date.now(), to: 0 };
      try {
        return await fn();
      } finally {
        work.to = Date.now();
        await sleep(3 * everyMs);
      }
    },
    async stop(): Promise<ProbeResult> {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill();
      await exited;
      const probes = out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Probe);
      const starts = probes.map((p) => p.start).filter((t) => t >= work.from - everyMs && t <= work.to + everyMs);
      const edges = [work.from, ...starts.filter((t) => t > work.from && t < work.to), work.to];
      return {
        total: probes.length,
        duringWork: probes.filter((p) => p.start >= work.from && p.end <= work.to).length,
        longestGapMs: Math.max(...edges.slice(1).map((t, i) => t - edges[i])),
        workMs: work.to - work.from,
        failures: probes.filter((p) => p.wrong !== undefined).map((p) => `${new Date(p.start).toISOString()}: ${p.wrong}`),
      };
    },
  };
}
