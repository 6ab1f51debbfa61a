/** The verify report: one result per check, a table for people, JSON for machines, an exit code. */

export type Status = "pass" | "fail" | "skip";

export interface CheckResult {
  /** Stable id for scripts (e.g. "well-known.server.cors"). */
  id: string;
  /** What was checked, short enough for the table. */
  name: string;
  status: Status;
  /** What we saw (one line), or why the check was skipped. */
  observed: string;
  /** What to change; present on failures (and on skips that need an option). */
  fix?: string;
}

export interface Report {
  source: string;
  domain: string;
  matrixHost: string;
  checks: CheckResult[];
  summary: { passed: number; failed: number; skipped: number };
}

export function summarize(checks: CheckResult[]): Report["summary"] {
  const count = (s: Status) => checks.filter((c) => c.status === s).length;
  return { passed: count("pass"), failed: count("fail"), skipped: count("skip") };
}

/** 1 when anything failed; skips do not fail a run (they say what to pass to run them). */
export function exitCode(report: Report): number {
  return report.summary.failed > 0 ? 1 : 0;
}

export function summaryLine(report: Report): string {
  const s = report.summary;
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}

/** Keep each cell on one line, and long answers (an HTML error page) from flooding the terminal. */
function oneLine(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * A plain-text table: CHECK, STATUS, OBSERVED, and the fix on its own line under
 * the observation, because fixes are sentences and would make a fourth column
 * unreadably wide.
 */
export function formatTable(report: Report): string {
  const nameWidth = Math.max("CHECK".length, ...report.checks.map((c) => c.name.length));
  const statusWidth = "STATUS".length;
  const indent = " ".repeat(nameWidth + 2 + statusWidth + 2);
  const lines = [
    `matrix-kit verify: ${report.domain} (Matrix host ${report.matrixHost}; expectation from ${report.source})`,
    "",
    `${"CHECK".padEnd(nameWidth)}  ${"STATUS".padEnd(statusWidth)}  OBSERVED / FIX`,
  ];
  for (const c of report.checks) {
    lines.push(`${c.name.padEnd(nameWidth)}  ${c.status.toUpperCase().padEnd(statusWidth)}  ${oneLine(c.observed)}`);
    if (c.fix && c.status !== "pass") lines.push(`${indent}fix: ${oneLine(c.fix, 400)}`);
  }
  lines.push("", summaryLine(report));
  return lines.join("\n");
}

export function formatJson(report: Report): string {
  return JSON.stringify(report, null, 2);
}
