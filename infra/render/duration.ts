/**
 * Durations as the docker provider stores them: Go's time.Duration.String()
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
