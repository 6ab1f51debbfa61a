/**
 * npm run bench:peak [-- --short] [--out <dir>] [--only baseline|kit] [--variant name=<json> ...]
 *                     [--reps n] [--burst-seconds s] [--idle-seconds s] [--clients n] [--clients-seconds s] [--idle-minutes m]
 *
 * The evening peak on a one-CPU VPS. Every container of each deployment, and
 * the host's nginx, sshd and docker-proxy, are confined to CPU 0 (bench/peak/pin.ts); this process,
 * the outside world, runs on the other CPU. For each deployment, `--reps` times interleaved
 * and rotated (baseline, kit, variant; kit, variant, baseline; ...; default 3):
 *   1. idle, --idle-seconds (default: as long as the burst): the other nginx site and an ssh command
 *      probed every second, the owner sending every 2 s through nginx and long-polling /sync (the
 *      same probes run through every phase). As long as the burst because a target compares the
 *      two phases' p99s, and the p99 of 8 sends is their slowest of 8, that of 60 their slowest of 60:
 *      with a short idle phase the same latencies look worse in the burst;
 *   2. the burst: the footprint benchmark's workload through the app service API (ghosts in many
 *      portals, media), at 10 sends a second for --burst-seconds; CPU use and throttling of each
 *      container from its cgroup, and the load average, over the burst;
 *   3. in the first repetition, --clients concurrent clients (20) for --clients-seconds (60)
 *      through nginx, counting 5xx.
 * Prints the medians (and ranges) side by side, the ratios to the baseline with their spread and
 * the targets; writes peak.json and peak.svg (CPUs over the burst). --short: a few seconds of each.
 *
 * --idle-minutes m instead deploys each one (default: the kit only), lets it settle, and measures
 * each container's CPU use over m minutes at rest (point 6): idle.json.
 * Exit 1 when anything is lost, a client got a 5xx, or the run fails.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { Deployment } from "../footprint/deploy";
import { queueHeldShare } from "../footprint/admission";
import { interleave, ownerToken, runsFrom, sleep, type Run } from "../footprint/runs";
import { runWorkload, type WorkloadPlan } from "../footprint/workload";
import { containersOf, CpuSampler, engineCpuSeconds } from "./cpu";
import { OwnerClient } from "./owner";
import { pinContainers, unpinHost } from "./pin";
import { concurrentClients, Prober } from "./probes";
import { formatIdleReport, formatPeakReport, peakChartSvg, type IdleResult, type PeakResult } from "./report";

const log = (l: string) => console.log(`[peak] ${l}`);

/** An evening in busy groups: 24 portals (8 groups of 5 to 20, 16 direct chats), a send in 15 with media. */
export function peakPlan(burstSeconds: number, short: boolean): WorkloadPlan {
  const messages = 10 * burstSeconds;
  return short
    ? { ghostsPerBridge: 10, groupRooms: 4, directChatsPerBridge: 2, messages, uploads: Math.ceil(messages / 15), ratePerSecond: 10 }
    : { ghostsPerBridge: 20, groupRooms: 8, directChatsPerBridge: 8, messages, uploads: Math.ceil(messages / 15), ratePerSecond: 10 };
}

interface Options {
  short: boolean;
  burstSeconds: number;
  idleSeconds: number;
  clients: number;
  clientsSeconds: number;
}

async function deployPinned(run: Run): Promise<{ d: Deployment; deploySeconds: number }> {
  log(`${run.label}: deploying`);
  const t0 = Date.now();
  const d = await run.deploy();
  pinContainers(Object.values(containersOf(d.namePrefix)));
  return { d, deploySeconds: (Date.now() - t0) / 1000 };
}

async function measurePeak(run: Run, rep: number, o: Options): Promise<PeakResult> {
  const { d, deploySeconds } = await deployPinned(run);
  try {
    const owner = await ownerToken(d);
    const room = (await owner.post("/_matrix/client/v3/createRoom", { name: "owner's notes", preset: "private_chat" })).room_id as string;
    // The clients' flood has a room of its own: in the owner's, /sync's timeline limit would skip some of its messages.
    const floodRoom = (await owner.post("/_matrix/client/v3/createRoom", { name: "clients", preset: "private_chat" })).room_id as string;
    const prober = new Prober();
    const client = new OwnerClient({ ...d.front, token: owner.token, roomId: room });
    const phase = (p: string) => {
      prober.phase = p;
      client.phase = p;
    };
    prober.begin();
    client.begin();
    log(`${run.label} #${rep}: deployed in ${deploySeconds.toFixed(0)} s; idle probes for ${o.idleSeconds} s`);
    await sleep(o.idleSeconds * 1000);
    phase("setup");
    const cpu = new CpuSampler(containersOf(d.namePrefix));
    let burstSeconds = 0;
    let burstFrom = 0;
    const workload = await runWorkload(
      { bridgesUrl: d.bridgesUrl, ownerFront: d.front, domain: d.domain, asTokens: d.asTokens, ownerToken: owner.token, ownerId: owner.userId },
      peakPlan(o.burstSeconds, o.short),
      log,
      {
        sendStarted: () => {
          phase("burst");
          burstSeconds = burstFrom = Date.now();
          cpu.begin();
        },
        sendEnded: () => {
          phase("readback");
          burstSeconds = (Date.now() - burstSeconds) / 1000;
        },
      },
    );
    const cpuFigures = cpu.end();
    const queue = containersOf(d.namePrefix)["bridge-queue"];
    const queueHeld = queue ? queueHeldShare(queue, burstFrom, burstFrom + burstSeconds * 1000) : undefined;
    delete workload.requests;
    phase("clients");
    // A yes/no target, not a ratio: the first repetition answers it, and the others save the minute.
    const clients =
      rep === 1
        ? (log(`${run.label} #${rep}: ${o.clients} clients through nginx for ${o.clientsSeconds} s`),
          await concurrentClients({ ...d.front, token: owner.token, roomId: floodRoom, clients: o.clients, seconds: o.clientsSeconds }))
        : undefined;
    await client.end();
    await prober.end();
    const result: PeakResult = {
      label: run.label,
      rep,
      deploySeconds,
      idle: { site: prober.of("site", "idle"), ssh: prober.of("ssh", "idle"), owner: client.of("idle") },
      burst: { seconds: burstSeconds, site: prober.of("site", "burst"), ssh: prober.of("ssh", "burst"), owner: client.of("burst"), cpu: cpuFigures, load: cpu.vps(), queueHeld },
      clients,
      workload,
      series: cpu.series,
    };
    log(`${run.label} #${rep}: owner send p99 ${result.burst.owner.send.p99} ms, site p99 ${result.burst.site.p99} ms, ssh p99 ${result.burst.ssh.p99} ms, ${workload.lost} lost${clients ? `, ${clients.fiveXX} 5xx` : ""}`);
    return result;
  } finally {
    log(`${run.label} #${rep}: tearing down`);
    await d.teardown();
  }
}

async function measureIdle(run: Run, minutes: number, settleSeconds: number): Promise<IdleResult> {
  const { d } = await deployPinned(run);
  try {
    await ownerToken(d);
    log(`${run.label}: settling for ${settleSeconds} s, then ${minutes} min at rest`);
    await sleep(settleSeconds * 1000);
    const cpu = new CpuSampler(containersOf(d.namePrefix), 10_000);
    const engine0 = engineCpuSeconds();
    cpu.begin();
    await sleep(minutes * 60_000);
    const figures = cpu.end();
    const engine = engineCpuSeconds() - engine0;
    return { label: run.label, minutes, cpu: figures, engine: { usageSeconds: engine, cores: engine / (minutes * 60) }, load: cpu.vps() };
  } finally {
    await d.teardown();
  }
}

function positive(name: string, v: string | undefined, fallback: number): number {
  const n = Number(v ?? fallback);
  if (!(n > 0)) throw new Error(`--${name} wants a number above 0, got ${v}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      short: { type: "boolean" },
      out: { type: "string" },
      only: { type: "string" },
      variant: { type: "string", multiple: true },
      reps: { type: "string" },
      "burst-seconds": { type: "string" },
      "idle-seconds": { type: "string" },
      clients: { type: "string" },
      "clients-seconds": { type: "string" },
      "idle-minutes": { type: "string" },
    },
  });
  const idleMinutes = values["idle-minutes"] === undefined ? undefined : positive("idle-minutes", values["idle-minutes"], 10);
  // The owner's protection at the peak is between the kit and the hand-made setup; the peer runs on --only.
  const runs = runsFrom(values.only ?? (idleMinutes !== undefined && !values.variant ? "kit" : undefined), values.variant ?? [], log, ["baseline", "kit"]);
  if (typeof runs === "string") throw new Error(runs);
  const short = values.short ?? false;
  const out = path.resolve(values.out ?? "bench/results");
  fs.mkdirSync(out, { recursive: true });
  const when = new Date().toISOString();
  try {
    if (idleMinutes !== undefined) {
      const results: IdleResult[] = [];
      for (const run of runs) results.push(await measureIdle(run, idleMinutes, short ? 10 : 30));
      fs.writeFileSync(path.join(out, "idle.json"), `${JSON.stringify({ when, results }, null, 1)}\n`);
      console.log(`\n== idle (${idleMinutes} min, one CPU)\n${formatIdleReport(results)}\n\nwrote ${path.join(out, "idle.json")}`);
      return 0;
    }
    const burstSeconds = positive("burst-seconds", values["burst-seconds"], short ? 15 : 120);
    const o: Options = {
      short,
      burstSeconds,
      idleSeconds: positive("idle-seconds", values["idle-seconds"], short ? 10 : burstSeconds),
      clients: positive("clients", values.clients, 20),
      clientsSeconds: positive("clients-seconds", values["clients-seconds"], short ? 10 : 60),
    };
    const reps = positive("reps", values.reps, short ? 1 : 3);
    const results: PeakResult[] = [];
    for (const { run, rep } of interleave(runs, reps)) results.push(await measurePeak(run, rep, o));
    const name = short ? "peak-short" : "peak";
    fs.writeFileSync(path.join(out, `${name}.json`), `${JSON.stringify({ when, mode: short ? "short" : "full", options: o, reps, results }, null, 1)}\n`);
    const title = `CPUs used over a ${o.burstSeconds} s burst, one CPU for each side, ${when.slice(0, 10)}`;
    fs.writeFileSync(path.join(out, `${name}.svg`), await peakChartSvg(results, title));
    console.log(`\n== peak (${o.burstSeconds} s burst at 10 sends/s, one CPU, ${reps} repetitions interleaved)\n${formatPeakReport(results)}`);
    console.log(`\nwrote ${path.join(out, `${name}.json`)} and ${path.join(out, `${name}.svg`)}`);
    return results.some((r) => r.workload.lost > 0 || r.burst.owner.undelivered > 0 || (r.clients?.fiveXX ?? 0) > 0 || r.workload.acknowledged.messages === 0) ? 1 : 0;
  } finally {
    unpinHost();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`bench:peak: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    // Exit now: a run that failed part-way can leave probes' timers and sockets open, which would
    // keep the process (and the VPS run.sh set up for it) alive. Its deployment was torn down, or
    // the next run's deploy removes what is left (removeLeftovers in deploy.ts).
    process.exit(1);
  },
);
