/**
 * How much of the send phase the kit's queue held the bridges to `bridgeQueue.inFlight`: its
 * admission script (templates/bridge-queue/admission.lua.hbs) starts holding them and logs each
 * change ("admission: bridges held|free"); a queue without the script holds them all the time.
 */
import { containerLog } from "../../test/harness/wait";

/** Share (0 to 1) of [from, to] (ms since the epoch) in the held state, from `docker logs -t` lines. */
export function heldShare(timestampedLog: string, from: number, to: number): number {
  let held = true;
  let at = from;
  let heldMs = 0;
  for (const line of timestampedLog.split("\n")) {
    const m = /^(\S+Z) .*admission: bridges (held|free)/.exec(line);
    if (!m) continue;
    const t = Date.parse(m[1]);
    if (t > from) {
      const until = Math.min(t, to);
      if (held && until > at) heldMs += until - at;
      at = Math.max(at, until);
    }
    held = m[2] === "held";
  }
  if (held && to > at) heldMs += to - at;
  return to > from ? heldMs / (to - from) : 0;
}

/** The share for a deployment's queue container, or undefined when it runs none. */
export function queueHeldShare(container: string, from: number, to: number): number | undefined {
  try {
    return heldShare(containerLog(container, "-t"), from, to);
  } catch {
    return undefined;
  }
}
