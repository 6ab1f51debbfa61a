/** Small helpers the e2e checks and the benchmark share: polling, the docker CLI, the host nginx's reload. */
import { execFileSync, spawnSync } from "node:child_process";

/**
 * Calls `f` every `intervalMs` until it returns something other than undefined, and returns
 * that; a throw counts as "not yet" (its message is kept for the timeout's error).
 */
export async function poll<T>(what: string, timeoutMs: number, f: () => Promise<T | undefined> | T | undefined, intervalMs = 1000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/** `docker <args>` on this machine's engine: its stdout, trimmed; a non-zero exit throws with its stderr. */
export function docker(...args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8", timeout: 300_000, stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** A container's whole output, stdout and stderr interleaved (Synapse and PostgreSQL log to stderr); `flags` go to `docker logs` (-t: timestamps). */
export function containerLog(name: string, ...flags: string[]): string {
  return execFileSync("sh", ["-c", 'docker logs "$@" 2>&1', "sh", ...flags, name], { encoding: "utf8", maxBuffer: 1 << 30 });
}

/** The nginx processes on this machine now (pgrep -x nginx). */
function nginxPids(): Set<string> {
  const r = spawnSync("pgrep", ["-x", "nginx"], { encoding: "utf8" });
  return new Set(r.stdout.split("\n").filter(Boolean));
}

/** No nginx worker of an earlier configuration is still finishing its connections. */
export function oldNginxWorkersGone(): boolean {
  return spawnSync("pgrep", ["-f", "nginx: worker process is shutting down"]).status === 1;
}

/**
 * The host's nginx, tested and reloaded, and the reload seen to take: new worker processes
 * started (`nginx -s reload` only signals the master, which may still fail to load the
 * configuration) and none of the old ones left to take a connection with the old one.
 */
export async function reloadHostNginx(): Promise<void> {
  execFileSync("nginx", ["-t"], { stdio: "pipe" });
  const before = nginxPids();
  execFileSync("nginx", ["-s", "reload"], { stdio: "pipe" });
  await poll("host nginx's reload to take (new workers, the old ones gone)", 30_000, () => {
    const now = nginxPids();
    const started = [...now].some((p) => !before.has(p));
    return started && oldNginxWorkersGone() ? true : undefined;
  }, 100);
}
