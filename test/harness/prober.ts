/**
 * A client that probes a site every `everyMs` while something else happens (a failed update):
 * each probe's failure is kept with what it saw, and the probes made while `during` was on are
 * counted, so a test can show the probing really covered the update.
 */
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

export interface ProbeResult {
  total: number;
  /** Probes started and finished while the watched work ran. */
  duringWork: number;
  /** What each failed probe saw (empty: every probe passed). */
  failures: string[];
}

/**
 * Starts probing at once; `probe` resolves with undefined when the answer is right, or a
 * description of what was wrong. `watch(work)` runs `work` while marking the probes made during it.
 */
export function startProber(probe: () => Promise<string | undefined>, everyMs = 100) {
  const result: ProbeResult = { total: 0, duringWork: 0, failures: [] };
  let working = false;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      const during = working;
      try {
        const wrong = await probe();
        if (wrong !== undefined) result.failures.push(wrong);
      } catch (e) {
        result.failures.push((e as Error).message);
      }
      result.total++;
      if (during && working) result.duringWork++;
      await sleep(Math.max(0, everyMs - (Date.now() - started)));
    }
  })();
  return {
    async watch<T>(work: () => Promise<T>): Promise<T> {
      await sleep(3 * everyMs);
      working = true;
      try {
        return await work();
      } finally {
        working = false;
        await sleep(3 * everyMs);
      }
    },
    async stop(): Promise<ProbeResult> {
      stopped = true;
      await loop;
      return result;
    },
  };
}
