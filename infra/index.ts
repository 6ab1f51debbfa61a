/**
 * Entry point: validated config -> checks before anything is touched -> components ->
 * outputs. Details live in the components (one per file) and in render/ (every file's text).
 * An async program (Pulumi awaits it and takes its result as the stack outputs) so that a bad
 * stack or a wrong host key stops the run before the first resource is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { Backup } from "./components/backup";
import { Bridge } from "./components/bridge";
import { BridgeQueue } from "./components/bridge-queue";
import { loadStack } from "./config";
import { Database } from "./components/database";
import { Acme } from "./components/acme";
import { Edge } from "./components/edge";
import { Homeserver } from "./components/homeserver";
import { Host } from "./components/host";
import { PrivateNetwork } from "./components/network";
import { Proxy } from "./components/proxy";
import { Stickers } from "./components/stickers";
import { Upgrade } from "./components/upgrade";
import { Upkeep } from "./components/upkeep";
import { Watchdog } from "./components/watchdog";
import { clientWellKnown, publicBaseUrl } from "./render/discovery";
import { stickerWidgetUrl } from "./render/stickers";
import { preflight } from "./preflight";
import { deriveSecrets } from "./secrets";
import { enabledBridges } from "./settings";

export = async (): Promise<Record<string, unknown>> => {
  const { settings: s, secrets: cfg } = loadStack();
  const secrets = pulumi.secret(cfg.secretSeed.apply(deriveSecrets));
  await preflight(s, secrets, cfg);
  const ownerPassword = pulumi.secret(cfg.ownerPassword ?? secrets.apply((x) => x.ownerPassword));
  const prefix = s.namePrefix;

  const host = new Host(`${prefix}-host`, { settings: s, sshPrivateKey: cfg.sshPrivateKey });
  const network = new PrivateNetwork(`${prefix}`, { settings: s, host });
  const backup = s.backup.enabled ? new Backup(`${prefix}-backup`, { settings: s, backup: s.backup, host, secrets }) : undefined;
  // Before a changed image replaces a container holding data: its previous image noted, and a backup.
  const upgrade = new Upgrade(`${prefix}-upgrade`, { settings: s, host, after: backup ? [backup] : [] });
  const beforeReplace = [upgrade.before];
  const database = new Database(`${prefix}-postgres`, { settings: s, host, secrets, network: network.network, beforeReplace });
  const homeserver = new Homeserver(`${prefix}-synapse`, { settings: s, host, secrets, ownerPassword, database: database.ready, databaseContainer: database.container, beforeReplace });
  // The bridges reach Synapse through it (render/bridge-queue.ts), so it runs before they start.
  const queue = s.bridgeQueue.enabled ? [new BridgeQueue(`${prefix}-bridge-queue`, { settings: s, queue: s.bridgeQueue, host, network: network.network })] : [];
  const bridges = enabledBridges(s).map(
    (b) =>
      new Bridge(`${prefix}-${b.kind}`, {
        settings: s,
        bridge: b,
        host,
        secrets,
        dependsOn: [homeserver.ready, database.ready, ...queue.map((q) => q.container), ...beforeReplace],
        databaseContainer: database.container,
      }),
  );
  const extras: pulumi.Resource[] = backup ? [backup] : [];
  if (s.watchdog.enabled && bridges.length > 0) {
    extras.push(new Watchdog(`${prefix}-watchdog`, { settings: s, watchdog: s.watchdog, host, secrets, dependsOn: [homeserver.ready, ...bridges.map((b) => b.container)] }));
  }
  if (s.upkeep.enabled) {
    extras.push(new Upkeep(`${prefix}-upkeep`, { settings: s, upkeep: s.upkeep, host, secrets, dependsOn: [homeserver.ready, database.ready] }));
  }
  const stickers = s.stickers.enabled ? [new Stickers(`${prefix}-stickers`, { settings: s, host })] : [];
  // HTTPS: Cloudflare's origin certificate and zone settings, or ACME's placeholder; the site waits for them.
  const edge = s.cloudflare.enabled ? new Edge(`${prefix}-edge`, { settings: s, cloudflare: s.cloudflare, apiToken: cfg.cloudflareApiToken!, host, after: [host.provider] }) : undefined;
  if (edge) await edge.checkApex();
  const acme = s.acme.enabled ? new Acme(`${prefix}-acme`, { settings: s, acme: s.acme, host }) : undefined;
  const tlsReady = [...(edge?.originReady ?? []), ...(acme ? [acme.placeholder] : [])];
  const proxy = new Proxy(`${prefix}-nginx`, { settings: s, host, dependsOn: [homeserver.ready, ...bridges.map((b) => b.container), ...stickers, ...tlsReady] });
  acme?.issue(proxy);
  extras.push(...(edge ? [edge] : []), ...(acme ? [acme] : []));
  host.guardDestroy(`${prefix}-host-destroy-guard`, [network, upgrade, database, homeserver, ...queue, ...bridges, ...extras, ...stickers, proxy], backup?.beforeDestroy);

  const homeserverUrl = publicBaseUrl(s);
  const wechatAgentUrl = s.wechat ? `${homeserverUrl.replace(/^http/, "ws")}/_wechat` : undefined;
  return {
    homeserverUrl,
    serverName: s.domain,
    nginxSite: proxy.sitePath,
    wellKnownClient: clientWellKnown(s),
    stickerPickerUrl: s.stickers.enabled ? stickerWidgetUrl(s) : undefined,
    wechatAgentUrl,
    /** `pulumi stack output --show-secrets wechatListenSecret`: the agent's `-s`. */
    wechatListenSecret: s.wechat ? secrets.apply((x) => x.wechat.listenSecret) : undefined,
    /** `pulumi stack output --show-secrets ownerPassword`: the owner's first password (change it in Element). */
    ownerPassword,
    /** When Cloudflare's origin certificate expires (renewed by the first update within matrix:cloudflare.originCertificate.renewBeforeDays of it). */
    originCertificateExpiresOn: edge?.originCertificateExpiresOn,
    nextSteps: [
      `Sign in with Element at ${homeserverUrl} as @${s.admin}:${s.domain}, with the password \`pulumi stack output --show-secrets ownerPassword\` shows${cfg.ownerPassword ? " (your matrix:ownerPassword)" : ""}, and change it in Element's settings`,
      ...(s.qq ? [`Message @${s.qq.botLocalpart}:${s.domain} and send "login" to link QQ`] : []),
      ...(s.stickers.enabled ? [`Add stickers: npm run stickers -- --stack ${s.stack} add <folder> (Element then shows the kit's picker)`] : []),
      ...(wechatAgentUrl ? [`Point the WeChat agent at ${wechatAgentUrl} with the secret from \`pulumi stack output --show-secrets wechatListenSecret\``] : []),
    ],
  };
};
