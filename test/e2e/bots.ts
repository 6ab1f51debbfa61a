/**
 * The owner and the bridges' bots in the e2e: each bot's direct chat with the owner (its
 * management room, where every message is a command), made on first use; what the owner says
 * there and the notices the bot answers with.
 */
import assert from "node:assert/strict";
import type { Settings } from "../../infra/settings";
import { json } from "../harness/http";
import { poll } from "../harness/wait";
import type { MatrixCall } from "./client";

export interface BotsContext {
  s: Settings;
  matrix: MatrixCall;
  /** The owner's access token. */
  token: () => string;
}

export function ownerAndBots(ctx: BotsContext) {
  /** The owner's direct chat with each bridge's bot (their management room), made on first use. */
  const botRooms: Partial<Record<"qq" | "wechat", string>> = {};
  let botTxn = 0;
  async function botRoom(kind: "qq" | "wechat"): Promise<string> {
    const bot = `@${kind}bot:${ctx.s.domain}`;
    if (!botRooms[kind]) {
      const created = await ctx.matrix("POST", "/_matrix/client/v3/createRoom", ctx.token(), { invite: [bot], is_direct: true, preset: "trusted_private_chat" });
      assert.equal(created.status, 200, created.body.toString());
      const id = encodeURIComponent(json(created).room_id);
      await poll(`${bot} to join`, 60_000, async () => (json(await ctx.matrix("GET", `/_matrix/client/v3/rooms/${id}/joined_members`, ctx.token())).joined?.[bot] ? true : undefined));
      botRooms[kind] = id;
    }
    return botRooms[kind]!;
  }
  /** The owner sends the bot a text in their direct chat; resolves with its event id. */
  async function ownerSays(kind: "qq" | "wechat", body: string): Promise<string> {
    const sent = await ctx.matrix("PUT", `/_matrix/client/v3/rooms/${await botRoom(kind)}/send/m.room.message/owner${botTxn++}`, ctx.token(), { msgtype: "m.text", body });
    assert.equal(sent.status, 200, sent.body.toString());
    return json(sent).event_id as string;
  }
  /** The bot's notices after the owner's event, for up to `seconds`, until `enough` says so. */
  async function botNotices(kind: "qq" | "wechat", after: string, seconds: number, enough: (bodies: string[]) => boolean): Promise<string[]> {
    const roomId = await botRoom(kind);
    const bodies: string[] = [];
    let from = json(await ctx.matrix("GET", `/_matrix/client/v3/rooms/${roomId}/context/${encodeURIComponent(after)}?limit=0`, ctx.token())).end as string;
    for (let i = 0; i < seconds && !enough(bodies); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const page = json(await ctx.matrix("GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=f&limit=20&from=${encodeURIComponent(from)}`, ctx.token()));
      for (const e of page.chunk as { sender: string; content: { msgtype?: string; body?: string } }[]) {
        if (e.sender === `@${kind}bot:${ctx.s.domain}` && e.content.msgtype === "m.notice") bodies.push(e.content.body ?? "");
      }
      from = page.end ?? from;
    }
    return bodies;
  }
  /**
   * The owner sends the bot a bare `ping` in their management room, where every message is a
   * command: true when a notice answers within 5 s (QQ has no `ping` and says so; WeChat answers it).
   */
  async function botAnswers(kind: "qq" | "wechat"): Promise<true | undefined> {
    const sent = await ownerSays(kind, "ping").catch(() => undefined);
    if (!sent) return undefined;
    return (await botNotices(kind, sent, 5, (b) => b.length > 0)).length > 0 ? true : undefined;
  }
  return { ownerSays, botNotices, botAnswers };
}
