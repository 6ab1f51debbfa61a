/**
 * What `npm run stickers` asks of Synapse, through a port forwarded to its loopback port: the
 * kit's admin account (registered with the shared secret on first use, as the upkeep job does),
 * a short-lived login as the owner (admin API), uploads as the owner, protection of each
 * upload, and the owner's m.widgets account data.
 */
import { createHmac } from "node:crypto";

export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
  ) {
    super(message);
  }
}

/** The file `pulumi up` places at <hostDir>/admin/account.json (render/upkeep.ts adminAccountFile). */
export interface AdminAccount {
  homeserver: string;
  serverName: string;
  localpart: string;
  password: string;
  registrationSharedSecret: string;
  owner: string;
}

export class Client {
  constructor(
    readonly base: string,
    readonly token?: string,
  ) {}

  with(token: string): Client {
    return new Client(this.base, token);
  }

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, raw?: { bytes: Buffer; type: string }): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (raw) headers["Content-Type"] = raw.type;
    else if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(this.base + path, { method, headers, body: raw ? new Uint8Array(raw.bytes) : body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      json = { error: text.slice(0, 200) };
    }
    if (!res.ok) throw new MatrixError(res.status, String(json.errcode ?? ""), `${method} ${path.split("?")[0]}: ${res.status} ${json.errcode ?? ""} ${json.error ?? ""}`.trim());
    return json as T;
  }
}

const q = encodeURIComponent;

/**
 * The kit's admin account: the kept token while it is valid; else registered (admin) with the
 * shared secret, or logged in when it exists (`fresh` is then true: keep the new token). Synapse
 * limits logins per account, so logging in on every command would soon be refused with 429.
 */
export async function adminLogin(c: Client, a: AdminAccount, kept: string | undefined): Promise<{ admin: Client; fresh: boolean }> {
  if (kept) {
    try {
      await c.with(kept).call("GET", "/_matrix/client/v3/account/whoami");
      return { admin: c.with(kept), fresh: false };
    } catch (e) {
      if (!(e instanceof MatrixError) || e.status !== 401) throw e;
    }
  }
  return { admin: await registerOrLogin(c, a), fresh: true };
}

async function registerOrLogin(c: Client, a: AdminAccount): Promise<Client> {
  try {
    const { nonce } = await c.call<{ nonce: string }>("GET", "/_synapse/admin/v1/register");
    const mac = createHmac("sha1", a.registrationSharedSecret).update([nonce, a.localpart, a.password, "admin"].join("\x00")).digest("hex");
    const r = await c.call<{ access_token: string }>("POST", "/_synapse/admin/v1/register", { nonce, username: a.localpart, password: a.password, admin: true, mac });
    return c.with(r.access_token);
  } catch (e) {
    if (!(e instanceof MatrixError) || e.errcode !== "M_USER_IN_USE") throw e;
  }
  const r = await c.call<{ access_token: string }>("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: a.localpart }, password: a.password });
  return c.with(r.access_token);
}

/** A token of the owner's for this run only (admin API "login as a user"); log it out after. */
export async function ownerLogin(admin: Client, owner: string): Promise<Client> {
  try {
    const r = await admin.call<{ access_token: string }>("POST", `/_synapse/admin/v1/users/${q(owner)}/login`, { valid_until_ms: Date.now() + 3600_000 });
    return admin.with(r.access_token);
  } catch (e) {
    if (e instanceof MatrixError && e.status === 404) {
      throw new Error(`${owner} does not exist yet: create the owner's account first (pulumi stack output nextSteps)`);
    }
    throw e;
  }
}

export async function upload(owner: Client, bytes: Buffer, type: string, filename: string): Promise<string> {
  const r = await owner.call<{ content_uri: string }>("POST", `/_matrix/media/v3/upload?filename=${q(filename)}`, undefined, { bytes, type });
  return r.content_uri;
}

/** The media ids a local user uploaded that the server still has (admin API, every page). */
export async function mediaIdsOf(admin: Client, user: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let from: number | undefined = 0; from !== undefined; ) {
    const page: { media: { media_id: string }[]; next_token?: number } = await admin.call("GET", `/_synapse/admin/v1/users/${q(user)}/media?from=${from}&limit=500`);
    for (const m of page.media) ids.add(m.media_id);
    from = page.next_token;
  }
  return ids;
}

/** Protected media are never deleted: not by the upkeep job, not by Synapse's media retention. */
export async function protect(admin: Client, mediaId: string): Promise<void> {
  await admin.call("POST", `/_synapse/admin/v1/media/protect/${q(mediaId)}`, {});
}

export async function getAccountData<T>(c: Client, user: string, type: string): Promise<T | undefined> {
  try {
    return await c.call<T & Record<string, unknown>>("GET", `/_matrix/client/v3/user/${q(user)}/account_data/${q(type)}`);
  } catch (e) {
    if (e instanceof MatrixError && e.status === 404) return undefined;
    throw e;
  }
}

export async function putAccountData(c: Client, user: string, type: string, content: unknown): Promise<void> {
  await c.call("PUT", `/_matrix/client/v3/user/${q(user)}/account_data/${q(type)}`, content);
}

export async function logout(c: Client): Promise<void> {
  await c.call("POST", "/_matrix/client/v3/logout", {});
}
