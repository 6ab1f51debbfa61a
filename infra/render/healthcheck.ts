/**
 * Every container's health check on one cadence. Docker runs each check as an
 * exec, and dockerd, containerd and the shims cost about as much CPU at rest as the containers
 * themselves did with checks every 10-30 s: once a minute (matrix:healthcheck.intervalSeconds) is enough for a restart policy and for
 * `npm run status`, and what must be quick is the wait after a start, which does not rely on it:
 *   - on Docker Engine 25+ (API 1.44) `start_interval` runs the check every 2 s until the first
 *     success or the end of the start period (matrix:healthcheck.startInterval: the docker provider
 *     refuses the field on an older engine, "requires API version 1.44");
 *   - on any engine the kit's own waits (templates/host/await-healthy.sh.hbs, the restore's wait
 *     for Synapse) run the same command themselves once a second while Docker still says starting.
 */
import type { Settings } from "../settings";
import { goDuration } from "./duration";
import { shellQuote } from "./templates";

/** Time between two checks during the start period, until the first success (Engine 25+). */
export const HEALTH_START_INTERVAL_SECONDS = 2;

/** Durations in Go's canonical form (render/duration.ts), as the provider stores them. */
export interface Healthcheck {
  tests: string[];
  interval: string;
  timeout: string;
  retries: number;
  startPeriod: string;
  startInterval?: string;
}

/**
 * A health check on the kit's cadence. `startPeriodSeconds`: how long the service may take to
 * start, during which failures do not count; `retries` failures in a row after it (a minute
 * apart) make the container unhealthy. A check answers in well under a second at rest; the 10 s
 * timeout only keeps a check stuck on a starved CPU from counting as an answer.
 */
export function healthcheck(s: Settings, tests: string[], o: { startPeriodSeconds: number; retries: number }): Healthcheck {
  return {
    tests,
    interval: goDuration(s.healthcheck.intervalSeconds),
    timeout: goDuration(10),
    retries: o.retries,
    startPeriod: goDuration(o.startPeriodSeconds),
    ...(s.healthcheck.startInterval ? { startInterval: goDuration(HEALTH_START_INTERVAL_SECONDS) } : {}),
  };
}

/** The check's command as a shell word list for `docker exec <container> ...`: "CMD" tests only (the kit has no other). */
export function healthCommandWords(h: Healthcheck): string {
  const [kind, ...args] = h.tests;
  if (kind !== "CMD" || args.length === 0) throw new Error(`a "CMD" health check expected, got ${JSON.stringify(h.tests)}`);
  return args.map(shellQuote).join(" ");
}
