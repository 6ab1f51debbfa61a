/**
 * npm run verify -- --stack <name>            (expectation from stacks/Pulumi.<name>.yaml)
 * npm run verify -- --domain D [--matrix-host H] [--upload-limit 50M]
 *
 * Checks a live deployment from outside (discovery, federation, client API,
 * upload limit, the WeChat agent's WebSocket, the admin API kept private) and
 * prints a table, or a JSON report with --json. Exit 0: nothing failed (skips
 * allowed); 1: a check failed; 2: bad usage or a bad stack file.
 * The work is in infra/ops/verify/; this file only turns arguments into options.
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { runCommand, usageError } from "./command";
import {
  exitCode,
  formatJson,
  formatTable,
  parseResolve,
  parseSize,
  runVerify,
  targetFromNames,
  targetFromSettings,
  type ResolveRule,
  type VerifyTarget,
} from "../ops/verify";

const USAGE = `usage: npm run verify -- --stack <name> [--stack-dir <dir>] [options]
       npm run verify -- --domain <domain> [--matrix-host <host>] [--upload-limit <size>] [options]
options:
  --wechat-secret <s>     the WeChat listen secret, raw (or env MATRIX_WECHAT_SECRET);
                          pulumi stack output --show-secrets wechatListenSecret
  --access-token <t>      a user's token, to read the upload limit Synapse announces (or env MATRIX_ACCESS_TOKEN)
  --upload-limit <size>   Synapse's max_upload_size ("50M" or bytes) when it cannot be read
  --resolve h:p:addr:p    connect to addr:p for h:p, keeping h for SNI and Host (repeatable)
  --ca-file <pem>         trust this CA too
  --origin <addr[:port]>  the VPS's own address, reached past Cloudflare (default from the stack:
                          cloudflare.originAddress and nginx.tls.port)
  --origin-ca-file <pem>  trust this CA for the origin's certificate
  --client-cert <pem>, --client-key <pem>
                          present this client certificate to the origin, as Cloudflare's edge does
  --only <ids>            only the checks whose ids start with these (comma-separated: origin,tls)
  --timeout <seconds>     per request (default 10)
  --upload-grace <s>      how long an upload under the limit must go unrefused (default 3)
  --json                  print the report as JSON`;

class UsageError extends Error {}
/** A stack file that cannot be verified against: exit 2 like bad usage, without the usage text. */
class StackError extends Error {}

interface Parsed {
  target: VerifyTarget;
  resolve: ResolveRule[];
  caPem?: string;
  timeoutMs: number;
  uploadGraceMs: number;
  wechatSecret?: string;
  accessToken?: string;
  originCaPem?: string;
  clientCert?: { cert: string; key: string };
  only?: string[];
  json: boolean;
}

function seconds(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} wants a positive number of seconds, got "${text}"`);
  return Math.round(n * 1000);
}

/** A stack's expectation; config/ (and with it Pulumi's SDK) loads only when a stack is named. */
async function targetFromStack(stack: string, stackDir: string | undefined): Promise<VerifyTarget> {
  const { settingsFromStackFile, StackFileError } = await import("../config");
  try {
    return targetFromSettings(settingsFromStackFile(stack, stackDir));
  } catch (e) {
    throw e instanceof StackFileError ? new StackError(e.message) : e;
  }
}

async function parse(argv: string[], env: NodeJS.ProcessEnv): Promise<Parsed | "help"> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        stack: { type: "string" },
        "stack-dir": { type: "string" },
        domain: { type: "string" },
        "matrix-host": { type: "string" },
        "upload-limit": { type: "string" },
        "wechat-secret": { type: "string" },
        "access-token": { type: "string" },
        resolve: { type: "string", multiple: true },
        "ca-file": { type: "string" },
        origin: { type: "string" },
        "origin-ca-file": { type: "string" },
        "client-cert": { type: "string" },
        "client-key": { type: "string" },
        only: { type: "string" },
        timeout: { type: "string" },
        "upload-grace": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return "help";

  let uploadLimit: number | undefined;
  if (values["upload-limit"] !== undefined) {
    uploadLimit = parseSize(values["upload-limit"]);
    if (uploadLimit === undefined || uploadLimit < 2) throw new UsageError(`--upload-limit wants a size like 50M or a number of bytes, got "${values["upload-limit"]}"`);
  }

  let target: VerifyTarget;
  if (values.stack !== undefined) {
    if (values.domain !== undefined || values["matrix-host"] !== undefined) throw new UsageError("give either --stack or --domain/--matrix-host, not both");
    target = await targetFromStack(values.stack, values["stack-dir"]);
    // An explicit limit wins over the stack's (e.g. to test a limit changed by hand).
    if (uploadLimit !== undefined) target = { ...target, uploadLimitBytes: uploadLimit, uploadLimitSource: "--upload-limit" };
  } else if (values.domain !== undefined) {
    const name = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
    const domain = values.domain.toLowerCase();
    const matrixHost = (values["matrix-host"] ?? `matrix.${domain}`).toLowerCase();
    if (!name.test(domain)) throw new UsageError(`--domain wants a DNS name, got "${values.domain}"`);
    if (!name.test(matrixHost)) throw new UsageError(`--matrix-host wants a DNS name, got "${values["matrix-host"]}"`);
    target = targetFromNames(domain, matrixHost, uploadLimit);
  } else {
    throw new UsageError("give --stack <name>, or --domain <domain>");
  }

  const resolve: ResolveRule[] = [];
  for (const r of values.resolve ?? []) {
    const rule = parseResolve(r);
    if (!rule) throw new UsageError(`--resolve wants host:port:address:port, got "${r}"`);
    resolve.push(rule);
  }

  const caPem = pem(values["ca-file"], "--ca-file", "CERTIFICATE");
  const originCaPem = pem(values["origin-ca-file"], "--origin-ca-file", "CERTIFICATE");
  const cert = pem(values["client-cert"], "--client-cert", "CERTIFICATE");
  const key = pem(values["client-key"], "--client-key", "PRIVATE KEY");
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("give --client-cert and --client-key together");
  if (values.origin !== undefined) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(values.origin);
    if (!m) throw new UsageError(`--origin wants an address and an optional port, got "${values.origin}"`);
    target = { ...target, origin: { address: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2] ?? target.origin?.port ?? 443), pulls: target.origin?.pulls ?? "unknown" } };
  }

  return {
    target,
    resolve,
    caPem,
    timeoutMs: seconds(values.timeout, "--timeout", 10_000),
    uploadGraceMs: seconds(values["upload-grace"], "--upload-grace", 3_000),
    wechatSecret: values["wechat-secret"] ?? env.MATRIX_WECHAT_SECRET,
    accessToken: values["access-token"] ?? env.MATRIX_ACCESS_TOKEN,
    originCaPem,
    clientCert: cert !== undefined && key !== undefined ? { cert, key } : undefined,
    only: values.only?.split(",").map((o) => o.trim()).filter(Boolean),
    json: values.json ?? false,
  };
}

/** A PEM file's text, which must hold `kind` ("CERTIFICATE", "PRIVATE KEY"), or undefined when not given. */
function pem(file: string | undefined, flag: string, kind: string): string | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) throw new UsageError(`${flag}: ${file} holds no PEM ${kind.toLowerCase()}`);
  return text;
}

async function main(argv: string[]): Promise<number> {
  let p: Parsed | "help";
  try {
    p = await parse(argv, process.env);
  } catch (e) {
    if (e instanceof StackError) {
      console.error(`verify: ${e.message}`);
      return 2;
    }
    if (!(e instanceof UsageError)) throw e;
    return usageError("verify", USAGE, e.message);
  }
  if (p === "help") {
    console.log(USAGE);
    return 0;
  }
  const report = await runVerify(p);
  console.log(p.json ? formatJson(report) : formatTable(report));
  return exitCode(report);
}

runCommand("verify", main);
