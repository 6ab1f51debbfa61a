/**
 * Matrix canonical JSON and signed-JSON verification (spec: Appendices, "Canonical
 * JSON" and "Signing JSON"), enough to check a server's key self-signature the
 * way a federating server does before it trusts anything else from it.
 */
import { createPublicKey, verify } from "node:crypto";

/** Compare strings by Unicode code point; JS's default sort compares UTF-16 units, which differs above U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const d = (x.value.codePointAt(0) ?? 0) - (y.value.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
}

/** The spec allows only integers in [-(2^53)+1, 2^53-1]; anything else has no canonical form. */
function canonicalNumber(n: number): string {
  if (!Number.isSafeInteger(n)) throw new TypeError(`canonical JSON allows only integers in ±(2^53-1), got ${n}`);
  // -0 must come out as 0; String() already does that.
  return String(n);
}

/**
 * Encode a value as Matrix canonical JSON: object keys sorted by code point, no
 * insignificant whitespace, strings in their shortest form (UTF-8, only the
 * escapes JSON requires; JSON.stringify on a string does exactly that).
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return canonicalNumber(value);
    case "string":
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort(compareCodePoints);
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

/** Decode Matrix's unpadded base64 (padded input is tolerated); undefined when it is not base64. */
export function decodeUnpaddedBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.replace(/=+$/, "").length % 4 === 1) return undefined;
  return Buffer.from(text, "base64");
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Verify an Ed25519 signature (both unpadded base64) over a message; false for malformed input. */
export function verifyEd25519(publicKeyB64: string, signatureB64: string, message: string): boolean {
  const raw = decodeUnpaddedBase64(publicKeyB64);
  const sig = decodeUnpaddedBase64(signatureB64);
  if (!raw || raw.length !== 32 || !sig || sig.length !== 64) return false;
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
  return verify(null, Buffer.from(message, "utf8"), key, sig);
}

/** The bytes a signature covers: the object without `signatures` and `unsigned`, canonically encoded. */
export function signedBytes(obj: Record<string, unknown>): string {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return canonicalJson(rest);
}

export interface KeyVerdict {
  keyId: string;
  /** "valid", or why it is not. */
  result: "valid" | "no signature" | "bad signature" | "malformed key";
}

/**
 * Check a `/_matrix/key/v2/server` answer's self-signatures: each ed25519 key in
 * `verify_keys` against `signatures[serverName][keyId]`. Returns one verdict per
 * ed25519 key (empty when there is none).
 */
export function verifySelfSignatures(doc: Record<string, unknown>, serverName: string): KeyVerdict[] {
  const keys = isObject(doc.verify_keys) ? doc.verify_keys : {};
  const sigs = isObject(doc.signatures) && isObject(doc.signatures[serverName]) ? (doc.signatures[serverName] as Record<string, unknown>) : {};
  let message: string | undefined;
  try {
    message = signedBytes(doc);
  } catch {
    message = undefined; // a float or the like: nothing can have signed it canonically
  }
  const verdicts: KeyVerdict[] = [];
  for (const [keyId, entry] of Object.entries(keys)) {
    if (!keyId.startsWith("ed25519:")) continue;
    const key = isObject(entry) && typeof entry.key === "string" ? entry.key : undefined;
    const sig = sigs[keyId];
    const raw = key === undefined ? undefined : decodeUnpaddedBase64(key);
    if (!raw || raw.length !== 32) verdicts.push({ keyId, result: "malformed key" });
    else if (typeof sig !== "string") verdicts.push({ keyId, result: "no signature" });
    else verdicts.push({ keyId, result: message !== undefined && verifyEd25519(key!, sig, message) ? "valid" : "bad signature" });
  }
  return verdicts;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
