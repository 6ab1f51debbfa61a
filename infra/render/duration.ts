/**
 * Durations: a stack's ("30d") in seconds, and Durations as the docker provider stores them: Go's time.Duration.String()
 * ("1m0s", not "60s"). The provider keeps that canonical form in its state, so any
 * other spelling shows as a diff on every `pulumi up` after a refresh.
 * Checked against real Go by test/unit/durations.test.ts.
 */
export function goDuration(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 0) throw new Error(`whole, non-negative seconds expected, got ${seconds}`);
  if (seconds === 0) return "0s";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400, y: 365 * 86400 };

/** A stack's duration in seconds ("30d" -> 2592000): the same units Synapse's own durations accept. */
export function durationSeconds(v: string): number {
  const m = /^([1-9][0-9]*)([smhdwy])$/.exec(v);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(v)}`);
  return Number(m[1]) * UNIT_SECONDS[m[2]];
}
