/**
 * Which of Synapse's caches grow under the workload, from Synapse's own metrics: the entries each
 * cache holds at the end, and its bound. Only where a variant turns the metrics listener on (port
 * 9000 in the container, e.g. `npm run bench:footprint -- --variant 'metrics={"matrix:synapse":
 * {"extraConfig":{"enable_metrics":true,"listeners":[<the kit's listener>,{"port":9000,"type":"metrics"}]}}}'`);
 * the figures name the caches worth a factor of their own (caches.per_cache_factors).
 */
import { execFileSync } from "node:child_process";

export interface CacheSize {
  name: string;
  size: number;
  max: number;
}

const METRIC = /^synapse_util_caches_cache(_max)?_size\{name="([^"]+)"(?:,[^}]*)?\} ([0-9.e+]+)$/;

/** Parsed from Prometheus' text format: every cache with its size and bound, largest first. */
export function parseCacheSizes(text: string): CacheSize[] {
  const by = new Map<string, CacheSize>();
  for (const line of text.split("\n")) {
    const m = METRIC.exec(line.trim());
    if (!m) continue;
    const c = by.get(m[2]) ?? { name: m[2], size: 0, max: 0 };
    if (m[1]) c.max = Number(m[3]);
    else c.size = Number(m[3]);
    by.set(m[2], c);
  }
  return [...by.values()].sort((a, b) => b.size - a.size);
}

/** The caches' sizes from the container's metrics listener, or undefined when it has none. */
export function cacheSizes(container: string): CacheSize[] | undefined {
  try {
    const text = execFileSync("docker", ["exec", container, "curl", "-fsS", "http://localhost:9000/_synapse/metrics"], { encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "ignore"] });
    const sizes = parseCacheSizes(text);
    return sizes.length ? sizes : undefined;
  } catch {
    return undefined;
  }
}
