/**
 * The benchmark's workload, through the APIs the bridges use: app service ghosts
 * (registered and acting with the bridge's as_token and ?user_id=) in group rooms
 * of 5 to 200 members and direct chats with the owner, sending text at a steady
 * rate and photos (JPEG, 20 KB to 2 MB, test/harness/photos.ts) in between, while the owner's client long-polls
 * /sync as Element does. At the end the owner reads every room back and every
 * acknowledged event must be there.
 */
import { request, type Answer } from "../../test/harness/http";
import { PhotoAlbum } from "../../test/harness/photos";

export interface WorkloadPlan {
  ghostsPerBridge: number;
  groupRooms: number;
  directChatsPerBridge: number;
  messages: number;
  uploads: number;
  /** Sends started per second (text and media together), whatever the answers' speed. */
  ratePerSecond: number;
}

/** Two dozen groups of 5 to 200 (about 1,300 members in all) and 40 direct chats; 20,000 sends at 30/s. */
export const FULL: WorkloadPlan = { ghostsPerBridge: 300, groupRooms: 24, directChatsPerBridge: 20, messages: 20_000, uploads: 500, ratePerSecond: 30 };
/**
 * A third of the full workload's ghosts and a seventh of its sends (about 2 minutes at 30 a second), for
 * repetitions (--reps): the full one takes about 15 minutes a side. Whether it ranks the sides as
 * the full one does is for docs/benchmarks.md's figures to show; --short does not (its peaks are tiny).
 */
export const MEDIUM: WorkloadPlan = { ghostsPerBridge: 100, groupRooms: 12, directChatsPerBridge: 10, messages: 3000, uploads: 75, ratePerSecond: 30 };
export const SHORT: WorkloadPlan = { ghostsPerBridge: 12, groupRooms: 4, directChatsPerBridge: 2, messages: 300, uploads: 12, ratePerSecond: 20 };

export interface WorkloadTarget {
  /** Where the bridges' requests go, as the bridges reach it (Deployment.bridgesUrl): this workload plays the bridges. */
  bridgesUrl: string;
  /** The owner's way in, host nginx's Matrix site (Deployment.front), as Element reaches it: never the bridges' queue. */
  ownerFront: { host: string; port: number };
  domain: string;
  asTokens: { qq: string; wechat: string };
  ownerToken: string;
  ownerId: string;
}

export interface WorkloadResult {
  plan: WorkloadPlan;
  setupSeconds: number;
  sendSeconds: number;
  acknowledged: { messages: number; uploads: number };
  /** Acknowledged events the owner could not read back. */
  lost: number;
  /** Per status ("network" for no answer), over every request of the send phase. */
  errors: Record<string, number>;
  latencyMs: { sendP50: number; sendP99: number; uploadP50: number; uploadP99: number };
  /** Each answered request's latency by its send's number ([i, ms]), for server-time.ts; not kept in the JSON. */
  requests?: { send: [number, number][]; upload: [number, number][] };
  uploadedBytes: number;
  syncs: number;
  /**
   * The owner's incremental /sync answers over the send phase: how long each took (a long poll
   * returns as soon as anything is new, so this is Synapse's time plus any wait for news) and the
   * timeline events each carried. Fewer answers are fuller ones or slower ones; this says which.
   * Absent in results written before it was measured.
   */
  sync?: { answers: number; p50: number; p99: number; eventsPerAnswer: number };
}

/** The uploads' sizes, drawn evenly on a log scale between these. */
const UPLOAD_BYTES = { min: 20_000, max: 2_000_000 } as const;
let album: PhotoAlbum | undefined;
/** The same photos for every deployment of a run: made once, as encoding them takes a few seconds. */
function photoAlbum(): PhotoAlbum {
  album ??= new PhotoAlbum(UPLOAD_BYTES.min, UPLOAD_BYTES.max);
  return album;
}

/** Deterministic choices, so both deployments get the same rooms, senders and sizes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

class HttpError extends Error {
  constructor(readonly status: string, message: string) {
    super(message);
  }
}

interface Room {
  id: string;
  bridge: "qq" | "wechat";
  members: string[];
}

/** Called as the send phase starts and once its last send is answered (the peak benchmark's phases). */
export interface WorkloadHooks {
  sendStarted?(): void;
  sendEnded?(): void;
}

export async function runWorkload(t: WorkloadTarget, plan: WorkloadPlan, log: (l: string) => void, hooks: WorkloadHooks = {}): Promise<WorkloadResult> {
  const rand = prng(8);
  const errors: Record<string, number> = {};
  let counting = false;

  const target = new URL(t.bridgesUrl);
  const bridgesWay = { host: "synapse", address: target.hostname, port: Number(target.port) };
  async function call(method: string, path: string, token: string, body?: unknown, raw?: { data: Buffer; type: string }): Promise<any> {
    let res: Answer;
    try {
      res = await request({
        // The owner's joins are the bridges' double puppeting in a deployment: they go the bridges' way.
        ...(token === t.ownerToken && !path.startsWith("/_matrix/client/v3/join/") ? t.ownerFront : bridgesWay),
        method,
        path,
        headers: { Authorization: `Bearer ${token}`, ...(raw ? { "Content-Type": raw.type } : body !== undefined ? { "Content-Type": "application/json" } : {}) },
        body: raw ? raw.data : body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: 120_000,
      });
    } catch (e) {
      if (counting) errors.network = (errors.network ?? 0) + 1;
      throw new HttpError("network", `${method} ${path.split("?")[0]}: ${(e as Error).message}`);
    }
    const text = res.body.toString();
    if (res.status < 200 || res.status > 299) {
      if (counting) errors[String(res.status)] = (errors[String(res.status)] ?? 0) + 1;
      throw new HttpError(String(res.status), `${method} ${path.split("?")[0]}: ${res.status} ${text.slice(0, 200)}`);
    }
    return text ? JSON.parse(text) : {};
  }
  const as = (bridge: "qq" | "wechat", user?: string) => ({
    token: t.asTokens[bridge],
    q: user ? `user_id=${encodeURIComponent(user)}` : "",
  });
  const withQ = (path: string, q: string) => (q ? `${path}${path.includes("?") ? "&" : "?"}${q}` : path);

  /** At most `n` at a time, in order. */
  async function pool<T>(items: T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await f(items[next++]);
    }));
  }

  // --- setup: ghosts, rooms, members, the owner in every room
  const setupStart = Date.now();
  const ghosts: Record<"qq" | "wechat", string[]> = { qq: [], wechat: [] };
  for (const bridge of ["qq", "wechat"] as const) {
    const names = Array.from({ length: plan.ghostsPerBridge }, (_, i) => `${bridge}_${100000 + i}`);
    await pool(names, 8, async (username) => {
      await call("POST", "/_matrix/client/v3/register", t.asTokens[bridge], { type: "m.login.application_service", username, inhibit_login: true });
    });
    ghosts[bridge] = names.map((n) => `@${n}:${t.domain}`);
  }
  log(`workload: ${2 * plan.ghostsPerBridge} ghosts registered`);

  const rooms: Room[] = [];
  const sizes = Array.from({ length: plan.groupRooms }, (_, i) =>
    Math.min(plan.ghostsPerBridge, Math.round(5 * Math.pow(40, plan.groupRooms === 1 ? 0 : i / (plan.groupRooms - 1)))),
  );
  const specs: { bridge: "qq" | "wechat"; members: string[]; direct: boolean }[] = [];
  sizes.forEach((size, i) => {
    const bridge = i % 2 === 0 ? "qq" : "wechat";
    const start = Math.floor(rand() * plan.ghostsPerBridge);
    const members = Array.from({ length: size }, (_, k) => ghosts[bridge][(start + k) % plan.ghostsPerBridge]);
    specs.push({ bridge, members, direct: false });
  });
  for (const bridge of ["qq", "wechat"] as const) {
    for (let i = 0; i < plan.directChatsPerBridge; i++) specs.push({ bridge, members: [ghosts[bridge][i % plan.ghostsPerBridge]], direct: true });
  }
  await pool(specs, 4, async (spec) => {
    // A portal: the bot creates a group and its members join; a ghost opens a direct chat.
    // The owner is invited to both. Group members join without an invite of their own (a
    // public_chat preset), which halves the setup's membership events on a 1-CPU Synapse.
    const creator = spec.direct ? as(spec.bridge, spec.members[0]) : as(spec.bridge);
    const created = await call("POST", withQ("/_matrix/client/v3/createRoom", creator.q), creator.token, {
      preset: spec.direct ? "trusted_private_chat" : "public_chat",
      is_direct: spec.direct,
      invite: [t.ownerId],
      name: spec.direct ? undefined : `bench ${spec.bridge} group of ${spec.members.length}`,
    });
    const id = created.room_id as string;
    const joiners = spec.direct ? [] : spec.members;
    await pool(joiners, 4, async (m) => {
      const g = as(spec.bridge, m);
      await call("POST", withQ(`/_matrix/client/v3/join/${encodeURIComponent(id)}`, g.q), g.token, {});
    });
    await call("POST", `/_matrix/client/v3/join/${encodeURIComponent(id)}`, t.ownerToken, {});
    rooms.push({ id, bridge: spec.bridge, members: spec.members });
  });
  const setupSeconds = (Date.now() - setupStart) / 1000;
  log(`workload: ${rooms.length} rooms (${plan.groupRooms} groups of ${sizes[0]}..${sizes[sizes.length - 1]}, ${rooms.length - plan.groupRooms} direct chats) in ${setupSeconds.toFixed(0)} s`);

  // --- the owner's client: /sync long-polls for the whole send phase, lazy-loading members like Element
  const stop = new AbortController();
  let syncs = 0;
  let syncEvents = 0;
  const syncLatency: number[] = [];
  const filter = encodeURIComponent(JSON.stringify({ room: { state: { lazy_load_members: true }, timeline: { limit: 20 } } }));
  // The send phase's photos, made before anything is timed (the first deployment's only).
  const photos = photoAlbum();
  const syncLoop = (async () => {
    let since = "";
    while (!stop.signal.aborted) {
      try {
        const asked = Date.now();
        const body = await call("GET", `/_matrix/client/v3/sync?timeout=30000&filter=${filter}${since ? `&since=${since}` : ""}`, t.ownerToken);
        // The first answer is the initial sync, not news: only the incremental ones are counted.
        if (since) {
          syncLatency.push(Date.now() - asked);
          syncEvents += timelineEvents(body);
        }
        if (body.next_batch) since = encodeURIComponent(body.next_batch);
        syncs++;
      } catch {
        if (!stop.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();

  // --- send phase: a steady schedule; each send is a text, or an upload then its m.image
  counting = true;
  hooks.sendStarted?.();
  const acked = new Map<string, Set<string>>(rooms.map((r) => [r.id, new Set<string>()]));
  const sendLatency: [number, number][] = [];
  const uploadLatency: [number, number][] = [];
  let uploadedBytes = 0;
  let ackUploads = 0;
  const uploadEvery = Math.max(1, Math.floor(plan.messages / Math.max(1, plan.uploads)));
  const sendStart = Date.now();
  const inFlight = new Set<Promise<void>>();
  let lastReport = Date.now();
  for (let i = 0; i < plan.messages; i++) {
    const due = sendStart + (i * 1000) / plan.ratePerSecond;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // A bound on open requests: a server that falls behind shows as latency, not as a pile of sockets.
    while (inFlight.size >= 64) await Promise.race(inFlight);
    const room = rooms[Math.floor(rand() * rooms.length)];
    const sender = room.members[Math.floor(rand() * room.members.length)];
    const g = as(room.bridge, sender);
    const isUpload = i % uploadEvery === 0 && i / uploadEvery < plan.uploads;
    const size = Math.round(UPLOAD_BYTES.min * Math.pow(UPLOAD_BYTES.max / UPLOAD_BYTES.min, rand()));
    const txn = `bench-${i}`;
    const p = (async () => {
      try {
        let content: Record<string, unknown> = { msgtype: "m.text", body: `message ${i} from ${sender}` };
        if (isUpload) {
          const photo = photos.nearest(size);
          const t0 = Date.now();
          const up = await call("POST", withQ(`/_matrix/media/v3/upload?filename=bench-${i}.jpg`, g.q), g.token, undefined, { data: photo.data, type: "image/jpeg" });
          uploadLatency.push([i, Date.now() - t0]);
          uploadedBytes += photo.data.length;
          const info = { size: photo.data.length, mimetype: "image/jpeg", w: photo.width, h: photo.height };
          content = { msgtype: "m.image", body: `bench-${i}.jpg`, url: up.content_uri, info };
        }
        const t0 = Date.now();
        const sent = await call("PUT", withQ(`/_matrix/client/v3/rooms/${encodeURIComponent(room.id)}/send/m.room.message/${txn}`, g.q), g.token, content);
        sendLatency.push([i, Date.now() - t0]);
        acked.get(room.id)!.add(sent.event_id);
        if (isUpload) ackUploads++;
      } catch {
        // counted in errors by status
      }
    })();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now();
      log(`workload: ${i + 1}/${plan.messages} sends started, ${inFlight.size} open, ${Object.values(errors).reduce((a, b) => a + b, 0)} errors`);
    }
  }
  await Promise.all(inFlight);
  const sendSeconds = (Date.now() - sendStart) / 1000;
  hooks.sendEnded?.();
  counting = false;
  stop.abort();
  // The last long-poll may wait its 30 s for an event that will not come: not for it.
  await Promise.race([syncLoop, new Promise((r) => setTimeout(r, 1000))]);

  // --- read back: every acknowledged event, from the owner's side
  let lost = 0;
  let ackMessages = 0;
  const messageFilter = encodeURIComponent(JSON.stringify({ types: ["m.room.message"], lazy_load_members: true }));
  await pool(rooms, 4, async (room) => {
    const want = acked.get(room.id)!;
    ackMessages += want.size;
    const seen = new Set<string>();
    let from = "";
    for (;;) {
      const page = await call("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(room.id)}/messages?dir=b&limit=1000&filter=${messageFilter}${from ? `&from=${from}` : ""}`, t.ownerToken);
      for (const e of page.chunk as { event_id: string }[]) seen.add(e.event_id);
      if (!page.end || (page.chunk as unknown[]).length === 0) break;
      from = encodeURIComponent(page.end);
    }
    for (const id of want) if (!seen.has(id)) lost++;
  });

  const sorted = (xs: [number, number][]) => xs.map(([, ms]) => ms).sort((a, b) => a - b);
  const [sends, uploads] = [sorted(sendLatency), sorted(uploadLatency)];
  return {
    plan,
    setupSeconds,
    sendSeconds,
    acknowledged: { messages: ackMessages, uploads: ackUploads },
    lost,
    errors,
    latencyMs: { sendP50: percentile(sends, 50), sendP99: percentile(sends, 99), uploadP50: percentile(uploads, 50), uploadP99: percentile(uploads, 99) },
    requests: { send: sendLatency, upload: uploadLatency },
    uploadedBytes,
    syncs,
    sync: syncFigures(syncLatency, syncEvents),
  };
}

/** The timeline events of a /sync answer, over its joined rooms. */
export function timelineEvents(body: { rooms?: { join?: Record<string, { timeline?: { events?: unknown[] } }> } }): number {
  return Object.values(body.rooms?.join ?? {}).reduce((n, r) => n + (r.timeline?.events?.length ?? 0), 0);
}

export function syncFigures(latencyMs: number[], events: number): NonNullable<WorkloadResult["sync"]> {
  const sorted = [...latencyMs].sort((a, b) => a - b);
  return { answers: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), eventsPerAnswer: sorted.length ? Math.round((10 * events) / sorted.length) / 10 : 0 };
}
