/**
 * Each bridge's config.yaml and its app service registration, rendered from the
 * same settings and tokens so the two sides can never disagree: Synapse refuses
 * the bot with "Application service has not registered this user" when the
 * registration's sender_localpart differs from the config's bot username
 * (duo/matrix-wechat#33, duo/matrix-qq#34), which is what `-g` produces.
 */
import type { AppserviceTokens, Secrets } from "../secrets";
import { containerName, type Bridge, type QqSettings, type Settings, type WechatSettings } from "../settings";
import { bridgesHomeserverAddress, DOUBLE_PUPPET } from "./addresses";
import { POOLS } from "./tuning";
import { deepMerge, MANAGED, toYaml } from "./yaml";

/** Each bridge's command prefix: commands with it are answered in any room the bot is in. */
export const COMMAND_PREFIX = { qq: "!qq", wechat: "!wechat" } as const;

function escapeRegex(v: string): string {
  return v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function tokens(b: Bridge, sec: Secrets): AppserviceTokens {
  return b.kind === "qq" ? sec.qq : sec.wechat;
}

function postgresUri(s: Settings, b: Bridge, sec: Secrets): string {
  // The bridge's own role, which owns its database and nothing else.
  const password = encodeURIComponent(sec.databasePasswords[b.kind]);
  return `postgres://${b.databaseRole}:${password}@${containerName(s, "postgres")}:5432/${b.database}?sslmode=disable`;
}

/** The address Synapse pushes transactions to: the bridge's container on the private network. */
/** The users a bridge owns (its registration's exclusive namespace): its bot, then its puppets. */
export function bridgeUserRegexes(s: Settings, b: Bridge): string[] {
  const domain = escapeRegex(s.domain);
  return [`^@${escapeRegex(b.botLocalpart)}:${domain}$`, `^@${escapeRegex(b.userPrefix)}.*:${domain}$`];
}

export function appserviceUrl(s: Settings, b: Bridge): string {
  return `http://${containerName(s, b.kind)}:${b.appservicePort}`;
}

function permissions(s: Settings): Record<string, string> {
  return { [s.domain]: "user", [`@${s.admin}:${s.domain}`]: "admin" };
}

/**
 * The bot's profile. Upstream's example configs carry avatars on matrix.org, which the real QQ
 * bridge downloads through Synapse on its first start (a fetch from matrix.org, and a file in the
 * remote media cache, on a server that may federate with no one). "remove" sets no avatar and
 * takes away one an earlier configuration set; the bridges read "" as "leave it as it is".
 */
function bot(b: Bridge, displayname: string): Record<string, string> {
  return { username: b.botLocalpart, displayname, avatar: b.botAvatar ?? "remove" };
}

/** Stdout only: file logs would grow in /data on a 25 GB disk. */
const STDOUT_LOGGING = { min_level: "info", writers: [{ type: "stdout", format: "pretty" }] };

/** Synapse's app service registration for a bridge. */
export function registrationData(s: Settings, b: Bridge, sec: Secrets): Record<string, unknown> {
  const t = tokens(b, sec);
  return {
    id: b.kind,
    url: appserviceUrl(s, b),
    as_token: t.asToken,
    hs_token: t.hsToken,
    // Must equal the bot username in the bridge's config (duo/matrix-wechat#33).
    sender_localpart: b.botLocalpart,
    rate_limited: false,
    namespaces: {
      users: [
        ...bridgeUserRegexes(s, b).map((regex) => ({ regex, exclusive: true })),
      ],
      aliases: [],
      rooms: [],
    },
    "de.sorunome.msc2409.push_ephemeral": true,
    receive_ephemeral: true,
    // mautrix-go before v0.22 (matrix-wechat 0.2.x) reads this older key.
    push_ephemeral: true,
  };
}

export function renderRegistration(s: Settings, b: Bridge, sec: Secrets): string {
  return toYaml(MANAGED(s.stack), registrationData(s, b, sec));
}

/**
 * Double puppeting by the app service method (what matrix-docker-ansible-deploy sets up): a
 * registration with no URL whose non-exclusive namespace is the owner alone. With its as_token
 * (`as_token:<token>` in each bridge's secrets) a bridge acts as the owner, so what the owner
 * sends from the official QQ and WeChat apps shows as the owner, not as a ghost; the
 * shared-secret login module this replaces is deprecated upstream.
 */
export function doublePuppetRegistrationData(s: Settings, sec: Secrets): Record<string, unknown> {
  return {
    id: DOUBLE_PUPPET.id,
    url: null,
    as_token: sec.doublePuppet.asToken,
    hs_token: sec.doublePuppet.hsToken,
    sender_localpart: DOUBLE_PUPPET.senderLocalpart,
    rate_limited: false,
    namespaces: { users: [{ regex: `^${escapeRegex(`@${s.admin}:${s.domain}`)}$`, exclusive: false }], aliases: [], rooms: [] },
  };
}

export function renderDoublePuppetRegistration(s: Settings, sec: Secrets): string {
  return toYaml(MANAGED(s.stack), doublePuppetRegistrationData(s, sec));
}

/** The bridges' double-puppet secret for the owner's server: the app service form. */
function doublePuppetSecret(s: Settings, sec: Secrets): Record<string, string> {
  return { [s.domain]: `as_token:${sec.doublePuppet.asToken}` };
}

/** matrix-qq 0.2.x: the mautrix bridgev2 (mxmain) layout. The 0.1.x layout exits with "Legacy bridge config detected". */
export function qqConfigData(s: Settings, b: QqSettings, sec: Secrets): Record<string, unknown> {
  const base: Record<string, unknown> = {
    network: {
      displayname_template: '{{or .Alias .Name "Unknown user"}}',
      // Upstream 0.2.1 resets this section to its defaults on start (its config upgrader
      // copies nothing); rendered anyway so a fixed image picks the setting up.
      sign_servers: [b.signServerUrl],
      reconnect: { delay: 3, max_times: 0, interval: 7 },
    },
    bridge: {
      command_prefix: COMMAND_PREFIX.qq,
      personal_filtering_spaces: true,
      private_chat_portal_meta: true,
      permissions: permissions(s),
    },
    database: { type: "postgres", uri: postgresUri(s, b, sec), ...POOLS.bridge },
    // mautrix-go v0.23.0's example config: double_puppet.servers / allow_discovery / secrets.
    double_puppet: { servers: {}, allow_discovery: false, secrets: doublePuppetSecret(s, sec) },
    homeserver: { address: bridgesHomeserverAddress(s), domain: s.domain, software: "standard" },
    appservice: {
      address: appserviceUrl(s, b),
      // Default 127.0.0.1 is unreachable from Synapse's container.
      hostname: "0.0.0.0",
      port: b.appservicePort,
      id: b.kind,
      bot: bot(b, "QQ bridge bot"),
      ephemeral_events: true,
      as_token: sec.qq.asToken,
      hs_token: sec.qq.hsToken,
      username_template: `${b.userPrefix}{{.}}`,
    },
    encryption: { allow: false, default: false, require: false, appservice: false },
    logging: STDOUT_LOGGING,
  };
  return deepMerge(base, b.extraConfig);
}

/** matrix-wechat 0.2.x: the older mautrix `bridge` layout, with the agent listener under `bridge:`. */
export function wechatConfigData(s: Settings, b: WechatSettings, sec: Secrets): Record<string, unknown> {
  const base: Record<string, unknown> = {
    homeserver: { address: bridgesHomeserverAddress(s), domain: s.domain, software: "standard" },
    appservice: {
      address: appserviceUrl(s, b),
      hostname: "0.0.0.0",
      port: b.appservicePort,
      database: { type: "postgres", uri: postgresUri(s, b, sec), ...POOLS.bridge },
      id: b.kind,
      bot: bot(b, "WeChat bridge bot"),
      ephemeral_events: true,
      as_token: sec.wechat.asToken,
      hs_token: sec.wechat.hsToken,
    },
    bridge: {
      username_template: `${b.userPrefix}{{.}}`,
      displayname_template: "{{if .Name}}{{.Name}}{{else}}{{.Uin}}{{end}} (WeChat)",
      // The agent's WebSocket: published on 127.0.0.1 and proxied by nginx at /_wechat.
      listen_address: `0.0.0.0:${b.listenPort}`,
      listen_secret: sec.wechat.listenSecret,
      personal_filtering_spaces: true,
      command_prefix: COMMAND_PREFIX.wechat,
      permissions: permissions(s),
      // matrix-wechat 0.2.4's example config: used once the owner is logged in to WeChat.
      double_puppet_server_map: {},
      double_puppet_allow_discovery: false,
      login_shared_secret_map: doublePuppetSecret(s, sec),
      encryption: { allow: false, default: false, require: false, appservice: false },
    },
    logging: STDOUT_LOGGING,
  };
  return deepMerge(base, b.extraConfig);
}

export function renderBridgeConfig(s: Settings, b: Bridge, sec: Secrets): string {
  const data = b.kind === "qq" ? qqConfigData(s, b, sec) : wechatConfigData(s, b, sec);
  return toYaml(MANAGED(s.stack), data);
}
