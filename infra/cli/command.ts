/** What the operator commands share: how a usage mistake is told, and how a command ends. */

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
