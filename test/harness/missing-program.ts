/**
 * Loaded before every test file (`node --import ./test/harness/missing-program.ts`, test/run.sh
 * and test/e2e/run.sh): when a test starts a program that is not installed, it fails with
 * `<program> is not installed (<set-up script> installs what the tests run)` instead of Node's
 * bare ENOENT, which spawnSync hides as `status: null` and empty output (a missing HAProxy once
 * read `haproxy -c: nullnull`). KIT_SETUP_SCRIPT names the set-up script of the run
 * (test/setup/validators.sh by default).
 *
 * It wraps child_process's spawn, spawnSync, execFile and execFileSync. A program that exists but
 * fails is left alone, and so is an ENOENT whose program is on PATH (a missing working directory
 * gives ENOENT too).
 */
import childProcess from "node:child_process";
import * as fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import * as path from "node:path";
import { promisify } from "node:util";

const setupScript = process.env.KIT_SETUP_SCRIPT ?? "test/setup/validators.sh";

export function notInstalledMessage(program: string): string {
  return `${program} is not installed (${setupScript} installs what the tests run)`;
}

/** Whether `file` names no executable: absent on PATH, or a path to nothing. */
export function isMissing(file: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const executable = (p: string) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (file.includes("/")) return !executable(file);
  return !(env.PATH ?? "").split(":").some((dir) => dir && executable(path.join(dir, file)));
}

type Options = { env?: NodeJS.ProcessEnv } | undefined;
const optionsOf = (args: unknown[]): Options => args.find((a): a is Options => typeof a === "object" && a !== null && !Array.isArray(a));

function explain(error: unknown, file: string, args: unknown[]): void {
  const e = error as NodeJS.ErrnoException | undefined;
  if (e?.code !== "ENOENT" || !isMissing(file, optionsOf(args)?.env ?? process.env)) return;
  e.message = notInstalledMessage(file);
}

const original = { ...childProcess };

childProcess.spawnSync = function (file: string, ...rest: unknown[]) {
  const r = (original.spawnSync as (...a: unknown[]) => childProcess.SpawnSyncReturns<string | Buffer>)(file, ...rest);
  if (r.error) {
    explain(r.error, file, rest);
    if (r.error.message === notInstalledMessage(file)) throw r.error;
  }
  return r;
} as typeof childProcess.spawnSync;

childProcess.execFileSync = function (file: string, ...rest: unknown[]) {
  try {
    return (original.execFileSync as (...a: unknown[]) => string | Buffer)(file, ...rest);
  } catch (e) {
    explain(e, file, rest);
    throw e;
  }
} as typeof childProcess.execFileSync;

/** An async child reports ENOENT as an 'error' event: the same message, whoever listens. */
function explainEvents<T extends childProcess.ChildProcess>(child: T, file: string, rest: unknown[]): T {
  const emit = child.emit.bind(child);
  child.emit = ((event: string | symbol, ...a: unknown[]) => {
    if (event === "error") explain(a[0], file, rest);
    return emit(event, ...a);
  }) as typeof child.emit;
  return child;
}

childProcess.spawn = function (file: string, ...rest: unknown[]) {
  return explainEvents((original.spawn as (...a: unknown[]) => childProcess.ChildProcess)(file, ...rest), file, rest);
} as typeof childProcess.spawn;

childProcess.execFile = function (file: string, ...rest: unknown[]) {
  // Its callback gets the error too: name the program there as well.
  const i = rest.findIndex((a) => typeof a === "function");
  if (i >= 0) {
    const callback = rest[i] as (e: unknown, ...r: unknown[]) => void;
    rest[i] = (e: unknown, ...r: unknown[]) => {
      explain(e, file, rest);
      callback(e, ...r);
    };
  }
  return explainEvents((original.execFile as (...a: unknown[]) => childProcess.ChildProcess)(file, ...rest), file, rest);
} as typeof childProcess.execFile;

// promisify(execFile) resolves to { stdout, stderr } through Node's own custom form: kept, and explained.
type Promised = Promise<unknown> & { child?: childProcess.ChildProcess };
const promised = (original.execFile as unknown as Record<symbol, (...a: unknown[]) => Promised>)[promisify.custom]!;
Object.defineProperty(childProcess.execFile, promisify.custom, {
  value: (file: string, ...rest: unknown[]) => {
    const p = promised(file, ...rest);
    const explained: Promised = p.catch((e: unknown) => {
      explain(e, file, rest);
      throw e;
    });
    explained.child = p.child;
    return explained;
  },
});

// `import { spawnSync } from "node:child_process"` in an ES module reads these bindings.
syncBuiltinESMExports();
