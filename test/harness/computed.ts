/**
 * What providers compute and the program reads back, made for real under Pulumi's MOCK runtime
 * (test/harness/program.ts), since their plugins cannot run here:
 *   - the tls provider's PrivateKey (ECDSA P-256, node's crypto) and CertRequest (openssl req);
 *   - Cloudflare's OriginCaCertificate: a MOCK of Cloudflare's Origin CA (no Cloudflare API here):
 *     a stand-in CA (openssl) signs the request for the hostnames and validity asked.
 * The stand-in Origin CA is the one in $KIT_ORIGIN_CA_DIR (the e2e's, so that its TLS front can
 * check the origin as Full (strict) does), else one made for the process. Outputs are kept by
 * resource name and inputs for the process's life: a second run of the program gets the same key
 * and certificate, as the engine's state gives the real providers.
 * Differences: Cloudflare's certificate chains to Cloudflare's Origin CA root and its expiresOn
 * and id are Cloudflare's; the stand-in's are the CA's own; a request's subject has only the
 * common name and organization the kit sets.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const cache = new Map<string, Record<string, unknown>>();
let processCa: string | undefined;

function openssl(dir: string, args: string[], input?: string): string {
  const r = spawnSync("openssl", args, { cwd: dir, input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The stand-in Origin CA's folder (ca.pem, ca.key), made when missing. */
export function originCaDir(): string {
  const dir = process.env.KIT_ORIGIN_CA_DIR ?? (processCa ??= fs.mkdtempSync(path.join(os.tmpdir(), "kit-origin-ca-")));
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(`${dir}/ca.pem`)) {
    openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", "/O=stand-in/CN=stand-in for Cloudflare Origin CA", "-keyout", "ca.key", "-out", "ca.pem"]);
  }
  return dir;
}

function compute(type: string, inputs: Record<string, any>): Record<string, unknown> | undefined {
  switch (type) {
    case "tls:index/privateKey:PrivateKey": {
      if (inputs.algorithm !== "ECDSA" || inputs.ecdsaCurve !== "P256") throw new Error(`harness: no stand-in for a ${inputs.algorithm} ${inputs.ecdsaCurve} key`);
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      return { privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }), publicKeyPem: publicKey.export({ type: "spki", format: "pem" }) };
    }
    case "tls:index/certRequest:CertRequest": {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-csr-"));
      try {
        fs.writeFileSync(`${dir}/key.pem`, inputs.privateKeyPem, { mode: 0o600 });
        const subject = `/O=${inputs.subject?.organization ?? ""}/CN=${inputs.subject?.commonName ?? ""}`;
        const san = (inputs.dnsNames as string[]).map((n) => `DNS:${n}`).join(",");
        return { certRequestPem: openssl(dir, ["req", "-new", "-key", "key.pem", "-subj", subject, "-addext", `subjectAltName=${san}`]) };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    case "cloudflare:index/originCaCertificate:OriginCaCertificate": {
      const ca = originCaDir();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-origin-cert-"));
      try {
        fs.writeFileSync(`${dir}/req.pem`, inputs.csr);
        fs.writeFileSync(`${dir}/ext`, `subjectAltName=${(inputs.hostnames as string[]).map((n) => `DNS:${n}`).join(",")}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
        const days = String(inputs.requestedValidity ?? 5475);
        const certificate = openssl(dir, ["x509", "-req", "-in", "req.pem", "-CA", `${ca}/ca.pem`, "-CAkey", `${ca}/ca.key`, "-CAcreateserial", "-CAserial", `${dir}/serial`, "-days", days, "-extfile", "ext"]);
        const notAfter = openssl(dir, ["x509", "-noout", "-enddate"], certificate).trim().replace(/^notAfter=/, "");
        return { certificate, expiresOn: new Date(notAfter).toISOString() };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    default:
      return undefined;
  }
}

/** The computed outputs of a resource of `type` (merged over its inputs by the mock), or undefined for one that has none. */
export function computedOutputs(type: string, name: string, inputs: Record<string, any>): Record<string, unknown> | undefined {
  const key = `${type}|${name}|${JSON.stringify(inputs)}`;
  if (!cache.has(key)) {
    const out = compute(type, inputs);
    if (!out) return undefined;
    cache.set(key, out);
  }
  return cache.get(key);
}
