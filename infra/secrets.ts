/**
 * Secrets the kit generates, derived from the one stack secret `matrix:secretSeed`.
 *
 * Derivation (HMAC-SHA256 of a fixed label) rather than random generation keeps
 * every value identical from one run to the next without state, so a second
 * `pulumi up` changes nothing and `npm run render` reproduces what is deployed.
 * Changing the seed rotates all of them at once. Pure: no Pulumi imports.
 */
import { createHmac } from "node:crypto";

export interface AppserviceTokens {
  asToken: string;
  hsToken: string;
}

export interface Secrets {
  /** The PostgreSQL superuser's: read by the server's entrypoint from a file, at initdb only. */
  postgresPassword: string;
  /** Each service's own PostgreSQL role: Synapse's, each bridge's, the upkeep job's. */
  databasePasswords: { synapse: string; qq: string; wechat: string; upkeep: string };
  registrationSharedSecret: string;
  macaroonSecretKey: string;
  formSecret: string;
  /** Synapse signing key file content: "ed25519 <key id> <unpadded base64 seed>". */
  signingKey: string;
  qq: AppserviceTokens;
  wechat: AppserviceTokens & { listenSecret: string };
  /**
   * The kit's double-puppet app service (no URL: it receives nothing): the bridges act as the
   * owner with its as_token (`as_token:` secrets), and so does the watchdog's probe.
   */
  doublePuppet: AppserviceTokens;
  /** The watchdog's monitoring account (registered with the shared secret). */
  watchdogPassword: string;
  /** The kit's admin account (upkeep job, `npm run stickers`), registered with the shared secret. */
  adminPassword: string;
  /** The restic repository's password (matrix:backup): the seed restores it on a new machine. */
  backupPassword: string;
  /** The owner's first password, unless matrix:ownerPassword sets it; `pulumi up` makes the account with it once. */
  ownerPassword: string;
}

/** Version of the derivation labels: bump to rotate every derived secret. */
const LABEL = "matrix-kit/v1";

function derive(seed: string, name: string, bytes = 32): Buffer {
  return createHmac("sha256", seed).update(`${LABEL}/${name}`).digest().subarray(0, bytes);
}

/** URL-safe, no padding: safe in YAML, URLs, shell words and HTTP headers. */
function token(seed: string, name: string, bytes = 32): string {
  return derive(seed, name, bytes).toString("base64url");
}

export function deriveSecrets(seed: string): Secrets {
  if (seed.length < 16) throw new Error("matrix:secretSeed must be at least 16 characters");
  const signingSeed = derive(seed, "synapse/signing-key").toString("base64").replace(/=+$/, "");
  return {
    postgresPassword: token(seed, "postgres/password"),
    databasePasswords: {
      synapse: token(seed, "postgres/role/synapse"),
      qq: token(seed, "postgres/role/qq"),
      wechat: token(seed, "postgres/role/wechat"),
      upkeep: token(seed, "postgres/role/upkeep"),
    },
    registrationSharedSecret: token(seed, "synapse/registration-shared-secret"),
    macaroonSecretKey: token(seed, "synapse/macaroon"),
    formSecret: token(seed, "synapse/form"),
    signingKey: `ed25519 a_kit ${signingSeed}\n`,
    qq: { asToken: token(seed, "qq/as"), hsToken: token(seed, "qq/hs") },
    wechat: { asToken: token(seed, "wechat/as"), hsToken: token(seed, "wechat/hs"), listenSecret: token(seed, "wechat/listen") },
    doublePuppet: { asToken: token(seed, "double-puppet/as"), hsToken: token(seed, "double-puppet/hs") },
    watchdogPassword: token(seed, "watchdog/password"),
    adminPassword: token(seed, "kit-admin/password"),
    backupPassword: token(seed, "backup/restic-password"),
    ownerPassword: token(seed, "owner/first-password", 18),
  };
}

/** Every secret value in a Secrets, for redaction and leak checks. */
export function secretValues(s: Secrets): string[] {
  return [
    s.postgresPassword,
    ...Object.values(s.databasePasswords),
    s.registrationSharedSecret,
    s.macaroonSecretKey,
    s.formSecret,
    s.signingKey.trim().split(" ")[2],
    s.qq.asToken,
    s.qq.hsToken,
    s.wechat.asToken,
    s.wechat.hsToken,
    s.wechat.listenSecret,
    s.doublePuppet.asToken,
    s.doublePuppet.hsToken,
    s.watchdogPassword,
    s.adminPassword,
    s.backupPassword,
    s.ownerPassword,
  ];
}
