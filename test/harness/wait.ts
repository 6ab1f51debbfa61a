/** Small helpers the e2e checks and the benchmark share: polling, and the docker CLI. */
import { execFileSync } from "node:child_process";

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
