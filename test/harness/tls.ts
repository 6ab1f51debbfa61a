/** A CA and certificates it signs, made with openssl: the e2e run's (test/e2e/vps.sh) and the TLS tests' on loopback. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";

/**
 * `<dir>/ca.pem` (made once per dir) and `<dir>/<name>.pem` + `.key` for `names` (DNS names): a
 * server's certificate, or with `usage` "clientAuth" a client's (what Cloudflare's edge presents
 * to an origin that requires one).
 */
export function makeCertificate(dir: string, name: string, ...names: string[]): void {
  makeCertificateFor("serverAuth", dir, name, ...names);
}

export function makeCertificateFor(usage: "serverAuth" | "clientAuth", dir: string, name: string, ...names: string[]): void {
  fs.mkdirSync(dir, { recursive: true });
  const ossl = (...args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, `openssl ${args.join(" ")}: ${r.stderr}`);
  };
  // 90 days: longer than the 14 days under which verify fails a certificate (CERTIFICATE_FAIL_DAYS).
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  if (!fs.existsSync(`${dir}/ca.pem`)) ossl("req", "-x509", ...ec, "-days", "90", "-subj", "/CN=test CA", "-keyout", "ca.key", "-out", "ca.pem");
  ossl("req", ...ec, "-subj", `/CN=${names[0]}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
  fs.writeFileSync(`${dir}/${name}.ext`, `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=${usage}\n`);
  ossl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "90", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
}
