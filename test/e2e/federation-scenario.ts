/**
 * What the federation settings must do between two real servers, as steps over two
 * clients: the kit's owner and a user of another homeserver (the peer). The e2e runs them
 * against the deployment and a second Synapse container (test/e2e/federation.ts); the render
 * tests run them now, against two Synapse processes on loopback with the kit's rendered
 * federation keys and nginx site (test/render/federation-two-servers.test.ts). Each step expects
 * the kit's Synapse to be configured for it already.
 *
 * The answers asserted are Synapse 1.163.2's, read in its sources and seen from it:
 *  - a room above limit_remote_rooms: 400 M_RESOURCE_LIMIT_EXCEEDED with complexity_error, asked
 *    before joining (handlers/room_member.py _remote_join); complexity = current state events /
 *    500, rounded to 2 places (storage/databases/main/events_worker.py get_room_complexity);
 *  - a server not on federation_domain_whitelist asking the kit: 403 M_FORBIDDEN "Federation
 *    denied with <origin>." checked before its signature (federation/transport/server/_base.py,
 *    api/errors.py FederationDeniedError), relayed as such by the asking server
 *    (api/errors.py to_synapse_error; federation/federation_client.py _try_destination_list);
 *  - the kit asking a server not on it: nothing is sent (http/matrixfederationclient.py), the
 *    destination is skipped and the join ends 502 M_UNKNOWN "Failed to make_join via any server"
 *    (federation/federation_client.py _try_destination_list);
 *  - nginx's own 404 (federation off) relayed as 404 M_UNKNOWN "Not Found": a body that is not
 *    JSON gives the status text (api/errors.py to_synapse_error).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { complexityError } from "../../infra/render/federation";
import { json, type Answer } from "../harness/http";
import { poll } from "../harness/wait";

/** A client of one server, with its user's token. */
export type Client = (method: string, path: string, body?: unknown) => Promise<Answer>;

export interface Sides {
  kit: Client;
  peer: Client;
  /** Server names, as a join names a server that is in the room (room version 12 ids name none). */
  kitServer: string;
  peerServer: string;
  /** The kit's matrix:federation.roomComplexityLimit in these steps. */
  limit: number;
  summary: string[];
}

/** The room with this many filler state events is above a limit of 0.05 (25 state events), a fresh one (~6) under it. */
const FILLERS = 40;
/** Synapse's complexity of a room with `n` current state events, rounded as it rounds it. */
export const complexity = (n: number) => Math.round((n / 500) * 100) / 100;
const q = encodeURIComponent;
export const said = (a: Answer) => `${a.status} ${a.body.toString().slice(0, 300)}`;

export function federationScenario(x: Sides) {
  const client = (at: "kit" | "peer") => (at === "kit" ? x.kit : x.peer);
  async function createRoom(at: "kit" | "peer", name: string): Promise<string> {
    const r = await client(at)("POST", "/_matrix/client/v3/createRoom", { name, preset: "public_chat" });
    assert.equal(r.status, 200, said(r));
    return json(r).room_id as string;
  }
  /** The owner joins a room on the peer: Synapse's answer. */
  const ownerJoins = (room: string) => x.kit("POST", `/_matrix/client/v3/join/${q(room)}?via=${q(x.peerServer)}`, {});
  /**
   * The peer's user joins a room on the kit: Synapse's answer, once it is not a transient 502/429
   * (a server backs off from one that failed, e.g. while an update restarted it).
   */
  const peerJoins = (room: string) =>
    poll(`the peer's answer to a join of ${room}`, 90_000, async () => {
      const r = await x.peer("POST", `/_matrix/client/v3/join/${q(room)}?via=${q(x.kitServer)}`, {});
      if (r.status === 502 || r.status === 429) throw new Error(said(r));
      return r;
    });
  async function send(at: "kit" | "peer", room: string, body: string): Promise<void> {
    const r = await client(at)("PUT", `/_matrix/client/v3/rooms/${q(room)}/send/m.room.message/${randomBytes(6).toString("hex")}`, { msgtype: "m.text", body });
    assert.equal(r.status, 200, said(r));
  }
  const arrives = (at: "kit" | "peer", room: string, body: string) =>
    poll(`"${body}" to reach the ${at}`, 90_000, async () => {
      const page = json(await client(at)("GET", `/_matrix/client/v3/rooms/${q(room)}/messages?dir=b&limit=30`));
      return (page.chunk as { type: string; content: { body?: string } }[]).some((e) => e.type === "m.room.message" && e.content.body === body) ? true : undefined;
    });
  const stateCount = async (room: string) => (json(await x.peer("GET", `/_matrix/client/v3/rooms/${q(room)}/state`)) as unknown[]).length;
  const expectAnswer = (a: Answer, status: number, errcode: string, error: string, what: string) => {
    assert.equal(a.status, status, `${what}: ${said(a)}`);
    assert.deepEqual({ errcode: json(a).errcode, error: json(a).error }, { errcode, error }, what);
    x.summary.push(`federation: ${what}: ${a.status} ${errcode} "${error}"`);
  };
  const expectJoined = (a: Answer, what: string) => assert.equal(a.status, 200, `${what}: ${said(a)}`);
  /** Rooms a join is refused on, then allowed on (the peer's user's on the kit's, the owner's on the peer's). */
  const gated = { kit: "", peer: "" };

  return {
    /** open: a join each way, a message each way, a room above the limit refused with the kit's text. */
    async open(): Promise<void> {
      const small = await createRoom("peer", "federation small");
      expectJoined(await ownerJoins(small), "open: the owner joins a small room on the peer");
      await send("kit", small, "from the kit");
      await arrives("peer", small, "from the kit");
      await send("peer", small, "from the peer");
      await arrives("kit", small, "from the peer");
      expectJoined(await peerJoins(await createRoom("kit", "federation open")), "open: the peer's user joins a room on the kit");
      const big = await createRoom("peer", "federation heavy");
      for (let i = 0; i < FILLERS; i++) {
        const r = await x.peer("PUT", `/_matrix/client/v3/rooms/${q(big)}/state/org.matrix.kit.e2e.filler/${i}`, { i });
        assert.equal(r.status, 200, said(r));
      }
      const [smallState, bigState] = [await stateCount(small), await stateCount(big)];
      assert.ok(complexity(smallState) <= x.limit && complexity(bigState) > x.limit, `${smallState} and ${bigState} state events around ${x.limit * 500}`);
      expectAnswer(await ownerJoins(big), 400, "M_RESOURCE_LIMIT_EXCEEDED", complexityError(x.limit), `open: the owner joins a room of ${bigState} state events (complexity ${complexity(bigState)} > ${x.limit})`);
      const rooms = json(await x.kit("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms as string[];
      assert.ok(rooms.includes(small) && !rooms.includes(big), "joined the small room, not the heavy one");
      x.summary.push(`federation: open: the owner joined a room of ${smallState} state events on the peer, a message crossed each way, the peer's user joined a room on the kit`);
    },
    /** allow-list without the peer: refused both ways. */
    async allowListWithout(): Promise<void> {
      gated.kit = await createRoom("kit", "federation allow-list");
      gated.peer = await createRoom("peer", "federation allow-list");
      expectAnswer(await peerJoins(gated.kit), 403, "M_FORBIDDEN", `Federation denied with ${x.peerServer}.`, "allow-list without the peer: the peer's user joins a room on the kit");
      expectAnswer(await ownerJoins(gated.peer), 502, "M_UNKNOWN", "Failed to make_join via any server", "allow-list without the peer: the owner joins a room on the peer");
    },
    /** allow-list with the peer: the same two joins go through, and a message crosses. */
    async allowListWith(): Promise<void> {
      assert.ok(gated.kit && gated.peer, "the rooms of the refused joins (the step before)");
      expectJoined(await peerJoins(gated.kit), "allow-list with the peer: the peer's user joins the room refused before");
      await send("peer", gated.kit, "allowed, from the peer");
      await arrives("kit", gated.kit, "allowed, from the peer");
      expectJoined(await ownerJoins(gated.peer), "allow-list with the peer: the owner joins the room refused before");
      x.summary.push(`federation: allow-list [${x.peerServer}]: the joins refused before went through; a message crossed`);
    },
    /** off: the peer's join gets nginx's 404 (no route), the owner's is refused. */
    async off(): Promise<void> {
      expectAnswer(await peerJoins(await createRoom("kit", "federation off")), 404, "M_UNKNOWN", "Not Found", "off: the peer's user joins a room on the kit");
      expectAnswer(await ownerJoins(await createRoom("peer", "federation off")), 502, "M_UNKNOWN", "Failed to make_join via any server", "off: the owner joins a room on the peer");
    },
  };
}
