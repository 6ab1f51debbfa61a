/**
 * Where a bridged request's time goes: Synapse's own time for each of the workload's sends and
 * uploads, read from its access log (a line per request: "Processed request: <processing>sec/
 * <response sending>sec ..." with the request's path, which carries the send's number), set against
 * the latency the workload measured for the same request. What is left is the time outside
 * Synapse's handling: in the kit's queue, on the network, and in Synapse's socket before its one
 * thread read the request (the body's transfer included).
 */
import { percentile } from "./workload";

export interface TimeSplit {
  /** Requests found in both the workload's figures and Synapse's log. */
  matched: number;
  synapseP50: number;
  synapseP99: number;
  /** The workload's latency minus Synapse's time, per request. */
  outsideP50: number;
  outsideP99: number;
}

const LINE = /Processed request: (\d+\.\d+)sec\/(-?\d+\.\d+)sec .*?"(?:PUT|POST) (\S+) /;
const SEND = /\/send\/m\.room\.message\/bench-(\d+)(?:\?|$)/;
const UPLOAD = /\/upload\?filename=bench-(\d+)\.bin/;

/** Synapse's milliseconds per send and per upload, by the send's number. */
export function synapseTimes(log: string): { send: Map<number, number>; upload: Map<number, number> } {
  const send = new Map<number, number>();
  const upload = new Map<number, number>();
  for (const line of log.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const ms = Math.round((Number(m[1]) + Math.max(0, Number(m[2]))) * 1000);
    const s = SEND.exec(m[3]);
    if (s) send.set(Number(s[1]), ms);
    const u = UPLOAD.exec(m[3]);
    if (u) upload.set(Number(u[1]), ms);
  }
  return { send, upload };
}

/** The split over the requests found on both sides; undefined when Synapse logged none of them. */
export function splitTimes(client: [number, number][], server: Map<number, number>): TimeSplit | undefined {
  const pairs = client.flatMap(([i, ms]) => (server.has(i) ? [[server.get(i)!, Math.max(0, ms - server.get(i)!)]] : []));
  if (pairs.length === 0) return undefined;
  const inside = pairs.map((p) => p[0]).sort((a, b) => a - b);
  const outside = pairs.map((p) => p[1]).sort((a, b) => a - b);
  return { matched: pairs.length, synapseP50: percentile(inside, 50), synapseP99: percentile(inside, 99), outsideP50: percentile(outside, 50), outsideP99: percentile(outside, 99) };
}
