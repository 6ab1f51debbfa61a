/**
 * The watchdog on the e2e deployment, registered inside the e2e suite's
 * describe: a wedged WeChat bridge healed (the stand-in's test-only SIGUSR1), a SIGKILLed one
 * brought back by docker, a lost login (SIGUSR2) restarted, the hourly bound (2 in this run), a
 * bridge silent since its start reported and not restarted, WeChat's scheduled profile sync
 * (noted while logged out, sent as the owner once logged in), WeChat's user table holding the
 * owner alone, the daily restart of QQ set minutes ahead, and a QQ restart held back while the
 * owner logs in. Checks read the watchdog's own log lines and the bridges' database, never a
 * phrase only a stand-in says. The figures go to the e2e summary.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import { watchdogStateDir } from "../../infra/render/watchdog";
import { hostPath, type Settings } from "../../infra/settings";
import { json } from "../harness/http";
import { docker, poll } from "../harness/wait";
import type { MatrixCall } from "./client";

/** The Matrix users matrix-wechat 0.2.4 keeps in its database (one row at most while nobody is logged in). */
function wechatUserRows(s: Settings): string[] {
  const out = docker("exec", `${s.namePrefix}-postgres`, "psql", "-U", s.postgres.superuser, "-d", "wechatbridge", "-Atc", 'SELECT mxid FROM "user" ORDER BY mxid');
  return out.trim().split("\n").filter(Boolean);
}

/** Beside a stand-in bridge's config.yaml, this file wedges its next start (test/e2e/bridge-standin/README.md). */
const WEDGED_AT_START_FILE = ".standin-wedged-at-start";

/** The last lines of a container's log (stdout and stderr), for a failed check's message. */
function logTail(container: string, lines: number): string {
  try {
    return execFileSync("sh", ["-c", `docker logs --timestamps --tail ${lines} "$1" 2>&1`, "sh", container], { encoding: "utf8", timeout: 30_000 });
  } catch (e) {
    return `(docker logs failed: ${(e as Error).message})`;
  }
}

/**
 * A watchdog test whose failure carries the watchdog's and the bridge's last log lines: CI
 * shows only the failed check's message, and the containers are gone after the run. A failed
 * test restarts the bridge it left wedged or logging in, without the wedge file, so that the
 * later tests (the faults wait for both bots) fail only for their own reasons.
 */
function watchdogTest(s: Settings, name: string, bridge: "qq" | "wechat", body: () => Promise<void>): void {
  test(name, async () => {
    try {
      await body();
    } catch (e) {
      const err = e as Error;
      err.message += `\n-- watchdog, last 30 lines:\n${logTail(`${s.namePrefix}-watchdog`, 30)}-- ${bridge} bridge, last 20 lines:\n${logTail(`${s.namePrefix}-${bridge}`, 20)}`;
      fs.rmSync(hostPath(s, bridge, WEDGED_AT_START_FILE), { force: true });
      try {
        docker("restart", `${s.namePrefix}-${bridge}`);
      } catch (restart) {
        err.message += `\n-- restarting the ${bridge} bridge after the failure failed too: ${(restart as Error).message}`;
      }
      throw err;
    }
  });
}

export interface WatchdogContext {
  s: Settings;
  /** The owner's access token. */
  token: () => string;
  summary: string[];
  botAnswers: (kind: "qq" | "wechat") => Promise<true | undefined>;
  /** The owner sends a text to the bot in their direct chat (the management room); resolves with its event id. */
  ownerSays: (kind: "qq" | "wechat", body: string) => Promise<string>;
  /** A client-server API call through host nginx. */
  matrix: MatrixCall;
  /** "HH:MM" UTC of QQ's daily restart in this run. */
  dailyQq: string;
}

export function watchdogTests(ctx: WatchdogContext): void {
  const { s } = ctx;

  watchdogTest(s, "the watchdog heals a wedged WeChat bridge and tells the owner; after a SIGKILL docker brings the bridge back; a lost login is restarted too (stand-in's test-only signals and wedge file)", "wechat", async () => {
    const wechat = `${s.namePrefix}-wechat`;
    const answers = () => ctx.botAnswers("wechat");
    await poll("the bot to answer ping", 60_000, answers);
    const startedAt = () => docker("inspect", "-f", "{{.State.StartedAt}}", wechat).trim();
    const before = startedAt();
    // The watchdog tells a wedge from a bridge silent since its start by an answer it saw since the
    // bridge's start: before each wedge, wait for the watchdog's probe to be answered.
    const probeAnswered = () =>
      poll("the watchdog's probe of WeChat to be answered since the bridge started", 180_000, async () =>
        /bridge answers the probe bridge="wechat"/.test(docker("logs", "--since", startedAt(), `${s.namePrefix}-watchdog`)) ? true : undefined);
    await probeAnswered();

    const wedgedAt = Date.now();
    docker("kill", "-s", "USR1", wechat);
    assert.equal(await answers(), undefined, "the wedged bridge ignores commands while its liveness endpoint answers");
    await poll("the watchdog to restart the bridge and the bot to answer again", 300_000, answers);
    const healed = (Date.now() - wedgedAt) / 1000;
    assert.notEqual(startedAt(), before, "the bridge's container was restarted");
    const logs = docker("logs", `${s.namePrefix}-watchdog`);
    assert.match(logs, /check failed bridge="wechat" failure=1 of=2 why="no answer to `!wechat ping` within 20 s"/);
    assert.match(logs, /restarting bridge bridge="wechat" container="mx-e2e-wechat" why="no answer to `!wechat ping` within 20 s \(2 checks in a row\)"/);
    // The probe acts as the owner: the bridge keeps the owner as its one user, and the owner's bare
    // commands in their own management room are answered after the restart (the poll above).
    assert.deepEqual(wechatUserRows(s), [`@${s.admin}:${s.domain}`], "matrix-wechat's one user row is the owner's");
    // The owner is told, in a direct chat from the monitoring account.
    const alert = await poll("the watchdog's message to the owner", 60_000, async () => {
      // A filter of its own per request: Synapse answers an identical initial sync from its
      // 2-minute response cache, which would still show the invite as it was.
      const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 20 } }, account_data: { not_types: [`kit.e2e.${Date.now()}`] } }));
      const sync = json(await ctx.matrix("GET", `/_matrix/client/v3/sync?timeout=0&filter=${filter}`, ctx.token()));
      for (const [id, room] of Object.entries((sync.rooms?.invite ?? {}) as Record<string, { invite_state: { events: { sender: string }[] } }>)) {
        if (room.invite_state.events.some((e) => e.sender === `@kit-watchdog:${s.domain}`)) await ctx.matrix("POST", `/_matrix/client/v3/join/${encodeURIComponent(id)}`, ctx.token(), {});
      }
      for (const [id, room] of Object.entries((sync.rooms?.join ?? {}) as Record<string, { timeline: { events: { sender: string; content: { body?: string } }[] } }>)) {
        const found = room.timeline.events.find((e) => e.sender === `@kit-watchdog:${s.domain}` && /the wechat bridge was restarted/.test(e.content.body ?? ""));
        if (found) {
          // The watchdog's rooms purge themselves after a day (m.room.retention; retention on in homeserver.yaml).
          const retention = await ctx.matrix("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(id)}/state/m.room.retention`, ctx.token());
          assert.deepEqual(json(retention), { max_lifetime: 86_400_000 }, retention.body.toString());
          return found.content.body;
        }
      }
      return undefined;
    });
    ctx.summary.push("", `watchdog: wedged WeChat bridge answering again after ${healed.toFixed(0)} s (target: under 120 s with default settings: ${healed < 120 ? "met" : "MISSED"})`, `watchdog's message to the owner: ${alert}`);

    // A crash: the bridge's process killed from the host; the restart policy brings it back.
    const killedAt = Date.now();
    process.kill(Number(docker("inspect", "-f", "{{.State.Pid}}", wechat).trim()), "SIGKILL");
    await poll("the bridge to answer after SIGKILL", 300_000, answers);
    const back = (Date.now() - killedAt) / 1000;
    assert.ok(Number(docker("inspect", "-f", "{{.RestartCount}}", wechat).trim()) >= 1, "docker's restart policy restarted it");
    ctx.summary.push(`WeChat bridge killed with SIGKILL: answering again after ${back.toFixed(0)} s (docker's restart policy)`);

    // A lost login: the bridge said "logged in" (the stand-in's test-only SIGUSR2 pretends it),
    // then says it is not; the watchdog restarts it and says why.
    const watchdogLogs = () => docker("logs", `${s.namePrefix}-watchdog`);
    // The scheduled profile sync, never run yet: not while WeChat is logged out, only noted.
    const syncRecord = () => JSON.parse(fs.readFileSync(`${watchdogStateDir(s)}/restarts.json`, "utf8"))[wechat]?.sync;
    assert.equal(syncRecord()?.skipped?.why, "WeChat is not logged in", "noted while WeChat is logged out");
    assert.doesNotMatch(watchdogLogs(), /profile sync bridge="wechat"/, "nothing sent while logged out");
    docker("kill", "-s", "USR2", wechat);
    await poll("the watchdog to see the bridge logged in", 180_000, async () => (/bridge is logged in bridge="wechat"/.test(watchdogLogs()) ? true : undefined));
    // Logged in: both sync commands sent as the owner in the probe room, each answered, in the same check.
    await poll("the watchdog's profile sync of WeChat", 60_000, async () => (/profile sync done bridge="wechat" answers=\["Resynced contacts", "Resynced groups"\]/.test(watchdogLogs()) ? true : undefined));
    const synced = syncRecord();
    assert.deepEqual([synced.last.ok, synced.last.answers, synced.skipped], [true, ["Resynced contacts", "Resynced groups"], undefined]);
    ctx.summary.push(`watchdog: WeChat's profile sync (sync contacts --contact-avatars, sync groups) sent as the owner once logged in, answered in ${synced.last.seconds} s; noted as not run while logged out`);
    const lostAt = Date.now();
    docker("kill", "-s", "USR2", wechat);
    const lost = /restarting bridge bridge="wechat" container="mx-e2e-wechat" why="the bridge said you were logged in and now says you are not \(2 checks in a row\)"/;
    await poll("the watchdog to restart the bridge that lost its login", 240_000, async () => (lost.test(watchdogLogs()) ? true : undefined));
    ctx.summary.push(`watchdog: a lost login (logged in, then not) restarted the bridge after ${((Date.now() - lostAt) / 1000).toFixed(0)} s`);

    // The bound (maxRestartsPerHour 2 in this run): a third wedge within the hour is only reported.
    await poll("the bot to answer after the restart for the lost login", 120_000, answers);
    await probeAnswered();
    docker("kill", "-s", "USR1", wechat);
    await poll("the watchdog to stop restarting and only alert", 240_000, async () => (/restart limit reached, alerting only bridge="wechat"/.test(watchdogLogs()) ? true : undefined));
    assert.equal(await answers(), undefined, "the bridge was left as it is");
    // What the owner, told so, would do.
    docker("restart", wechat);
    await poll("the bot to answer after a restart by hand", 120_000, answers);
    ctx.summary.push("watchdog: a third wedge within the hour was reported, not restarted (maxRestartsPerHour 2 in this run)");

    // A bridge that has not answered since it started (it ignores the probe, or was stuck from its
    // start) is not restarted: a restart would only repeat it (the real WeChat bridge was
    // restart-looped so). Played by a restart by hand wedged from its first instant (the
    // stand-in's test-only file): a signal sent after the restart lost a run to a probe that
    // Synapse had queued and the new process answered before the signal came.
    const restartsBefore = (watchdogLogs().match(/restarting bridge bridge="wechat"/g) ?? []).length;
    const startedBefore = startedAt();
    const wedgeFile = hostPath(s, "wechat", WEDGED_AT_START_FILE);
    fs.writeFileSync(wedgeFile, "");
    docker("restart", wechat);
    const startedNow = startedAt();
    // The stand-in wedges itself before it removes the file, and both before it listens.
    await poll("the restarted stand-in to take the wedge file (only one start is wedged)", 60_000, async () => (fs.existsSync(wedgeFile) ? undefined : true));
    const silent = /no answer since the bridge started: not a wedge a restart heals bridge="wechat" command="!wechat ping"/;
    await poll("the watchdog to report a bridge silent since its start", 240_000, async () => (silent.test(watchdogLogs()) ? true : undefined));
    assert.notEqual(startedNow, startedBefore);
    assert.equal(startedAt(), startedNow, "the silent bridge was not restarted");
    assert.equal((watchdogLogs().match(/restarting bridge bridge="wechat"/g) ?? []).length, restartsBefore, "no restart was attempted");
    docker("restart", wechat);
    await poll("the bot to answer after a restart by hand", 120_000, answers);
    assert.deepEqual(wechatUserRows(s), [`@${s.admin}:${s.domain}`], "after every restart, still the owner's row alone");
    ctx.summary.push("watchdog: a bridge silent since its start was reported, not restarted; matrix-wechat's user table holds the owner alone");
  });

  watchdogTest(s, "the watchdog's daily restart of a bridge happens at its time (QQ, set 3 to 4 minutes after the run began)", "qq", async () => {
    const daily = new RegExp(`restarting bridge bridge="qq" container="${s.namePrefix}-qq" why="daily restart at ${ctx.dailyQq} UTC"`);
    await poll(`the daily restart at ${ctx.dailyQq} UTC`, 360_000, async () => (daily.test(docker("logs", `${s.namePrefix}-watchdog`)) ? true : undefined));
    await poll("the QQ bot to answer after its daily restart", 120_000, () => ctx.botAnswers("qq"));
    ctx.summary.push(`watchdog: daily restart of QQ at ${ctx.dailyQq} UTC seen in its log; the bot answers after it`);
  });

  watchdogTest(s, "a QQ login in progress holds the watchdog's restart back (QQ waits for the QR scan inside its event handler), and it says why", "qq", async () => {
    const qq = `${s.namePrefix}-qq`;
    const logs = () => docker("logs", `${s.namePrefix}-watchdog`);
    // The probe must have been answered since QQ's (daily) restart: a bridge silent since its start is not restarted anyway.
    const started = docker("inspect", "-f", "{{.State.StartedAt}}", qq).trim();
    await poll("the watchdog's probe of QQ to be answered", 120_000, async () => (/bridge answers the probe bridge="qq"/.test(docker("logs", "--since", started, `${s.namePrefix}-watchdog`)) ? true : undefined));
    const sent = await ctx.ownerSays("qq", "login");
    const held = /restart held back: the owner is logging in bridge="qq" why="no answer to `!qq list-logins` within 20 s \(2 checks in a row\)"/;
    const t0 = Date.now();
    await poll("the watchdog to hold QQ's restart back", 240_000, async () => (held.test(logs()) ? true : undefined));
    assert.equal(docker("inspect", "-f", "{{.State.StartedAt}}", qq).trim(), started, "QQ was not restarted during the login");
    assert.ok(sent, "the owner's login command was sent");
    // The QR code scanned (the stand-in's test-only SIGUSR2): the login ends and QQ answers again.
    docker("kill", "-s", "USR2", qq);
    await poll("the QQ bot to answer after the login", 120_000, () => ctx.botAnswers("qq"));
    ctx.summary.push(`watchdog: QQ's restart held back ${((Date.now() - t0) / 1000).toFixed(0)} s into the owner's login (no restart; the owner told why)`);
  });
}
