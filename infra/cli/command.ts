/** What the operator commands share: their arguments, how a usage mistake is told, and how a command ends. */
import { parseArgs } from "node:util";

/** Prints `<name>: <problem>` and the usage; the exit code of a usage mistake. */
export function usageError(name: string, usage: string, problem: string): 2 {
  console.error(`${name}: ${problem}\n${usage}`);
  return 2;
}

/** Runs a command's main with its arguments and exits with its code; a bug of ours is still one line, never a trace. */
export function runCommand(name: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(`${name}: internal error: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    },
  );
}

type Options = Record<string, { type: "string" | "boolean"; short?: string }>;

/**
 * The arguments of a command that works on a deployed stack: `--stack`, `--stack-dir`, `--help`
 * and the command's own `options`, positionals allowed. The parsed arguments, or the exit code
 * when there is nothing more to do (a usage mistake: 2; --help: 0, the usage printed).
 */
export function stackCommandArgs<O extends Options>(name: string, usage: string, argv: string[], options: O) {
  const config = {
    args: argv,
    strict: true as const,
    allowPositionals: true as const,
    options: { stack: { type: "string" as const }, "stack-dir": { type: "string" as const }, help: { type: "boolean" as const, short: "h" }, ...options },
  };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    return usageError(name, usage, (e as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    return 0;
  }
  return parsed;
}
