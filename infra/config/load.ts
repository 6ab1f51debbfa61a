/** Reading a stack's configuration: from the Pulumi runtime (the program) or from its file (`npm run render`). */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import type { Settings } from "../settings";
import { NS } from "./schema";
import { configProblems, validate, type RawConfig } from "./validate";

/**
 * Read this stack's configuration from the Pulumi runtime and validate it.
 * Throws a RunError listing every problem before any resource exists: Pulumi prints a
 * RunError's message alone, with no stack trace (a ConfigError whose `stack` field
 * overwrote Error.stack reached the user as an object dump with colour codes).
 */
export function loadFromPulumi(stack: string, allConfig: Record<string, string>, isSecret: (key: string) => boolean): Settings {
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [key, text] of Object.entries(allConfig)) {
    // Structured values (objects, lists) reach the runtime as JSON text.
    values[key] = /^\s*[{[]/.test(text) ? safeJson(text) : text;
    if (isSecret(key)) secretKeys.add(key);
  }
  const result = validate(stack, { values, secretKeys });
  if (!result.ok) throw new pulumi.RunError(configProblems(stack, result.errors));
  return result.settings;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Secret stack settings, as Pulumi secrets (never unwrapped here). */
export interface SecretConfig {
  secretSeed: pulumi.Output<string>;
  sshPrivateKey?: pulumi.Output<string>;
  cloudflareApiToken?: pulumi.Output<string>;
  /** The owner's first password, when the owner sets it (else derived from secretSeed). */
  ownerPassword?: pulumi.Output<string>;
}

/** The program's entry point into configuration: validated settings plus secret handles. */
export function loadStack(): { settings: Settings; secrets: SecretConfig } {
  // isConfigSecret is exported by the runtime but not typed in its .d.ts.
  const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(k: string): boolean };
  const settings = loadFromPulumi(pulumi.getStack(), pulumi.runtime.allConfig(), (k) => runtimeConfig.isConfigSecret(k));
  const cfg = new pulumi.Config(NS);
  return {
    settings,
    secrets: {
      secretSeed: cfg.requireSecret("secretSeed"),
      sshPrivateKey: cfg.getSecret("sshPrivateKey"),
      cloudflareApiToken: cfg.getSecret("cloudflareApiToken"),
      ownerPassword: cfg.getSecret("ownerPassword"),
    },
  };
}

/** Where a stack's config file lives (Pulumi.yaml: stackConfigDir: stacks). */
export function stackFilePath(stack: string, root = path.resolve(__dirname, "../..")): string {
  return path.join(root, "stacks", `Pulumi.${stack}.yaml`);
}

/**
 * Read a stacks/Pulumi.<stack>.yaml without the Pulumi CLI (for `npm run render`).
 * Secret values stay encrypted (`secure:`): they count as present, never decrypted.
 */
export function readStackFile(file: string): RawConfig {
  const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    const isSecure = value !== null && typeof value === "object" && "secure" in (value as object);
    values[key] = value;
    if (isSecure) secretKeys.add(key);
  }
  return { values, secretKeys };
}

/** A stack file an operator command cannot work from: missing or with configuration problems. */
export class StackFileError extends Error {}

/**
 * A stack's settings for an operator command (verify, status): read from
 * stacks/Pulumi.<stack>.yaml (or <stackDir>), validated, secrets not needed.
 */
export function settingsFromStackFile(stack: string, stackDir?: string): Settings {
  const file = stackDir ? path.join(stackDir, `Pulumi.${stack}.yaml`) : stackFilePath(stack);
  if (!fs.existsSync(file)) throw new StackFileError(`no stack "${stack}": ${file} does not exist`);
  const result = validate(stack, readStackFile(file), { requireSecrets: false });
  if (!result.ok) throw new StackFileError(configProblems(stack, result.errors));
  return result.settings;
}
