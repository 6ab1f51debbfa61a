/**
 * The real program under Pulumi's MOCK runtime (no engine, no providers): asserts
 * the exact inputs each stack's resources are registered with.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { byType, one, runProgram, TEST_SECRETS, type ProgramRun } from "../harness/program";
import { settingsFromStackFile } from "../../infra/config";
import { renderBackupScript, renderRestoreScript } from "../../infra/render/backup";
import { deriveSecrets } from "../../infra/secrets";

const CONTAINER = "docker:index/container:Container";
const REMOTE_CMD = "command:remote:Command";
const LOCAL_CMD = "command:local:Command";

function stdinOf(run: ProgramRun, name: string): string {
  const r = one(run, name);
  assert.equal(typeof r.inputs.stdin, "string", `${name} has stdin`);
  return r.inputs.stdin as string;
}

for (const stack of ["local", "dev", "prod"] as const) {
  describe(`stack ${stack} under Pulumi mocks`, () => {
    let run: ProgramRun;
    const p = `mx-${stack}`;
    // Only prod's engine takes a start interval (its matrix:healthcheck.startInterval): 2 s, in Go's form.
    const startInterval = stack === "prod" ? { startInterval: "2s" } : {};
    before(async () => {
      run = await runProgram({ stack, secrets: TEST_SECRETS });
    });

    test("every published port is bound to 127.0.0.1 only", () => {
      const ports = byType(run, CONTAINER).flatMap((c) => (c.inputs.ports ?? []) as { ip: string }[]);
      assert.ok(ports.length >= 2, "synapse and the wechat listener publish ports");
      for (const port of ports) assert.equal(port.ip, "127.0.0.1");
    });

    test("the Synapse container has exactly the expected inputs", () => {
      const c = one(run, `${p}-synapse-container`);
      const { labels, ...rest } = c.inputs;
      assert.deepEqual(rest, {
        name: `${p}-synapse`,
        image: "matrixdotorg/synapse:v1.163.2",
        restart: "unless-stopped",
        // prod sets 1024m; local and dev take the 1 GB budget's Synapse share (4/8 of 768 MiB).
        memory: stack === "prod" ? 1024 : 348,
        memorySwap: stack === "prod" ? 1024 : 348,
        // The CPU budget of a 1-CPU VPS (cpu.total 1 - cpu.reserve 0.25): Synapse may use all of it, with the top weight.
        cpus: "0.75",
        cpuShares: 1024,
        envs: ["SYNAPSE_CONFIG_PATH=/config/homeserver.yaml", "SYNAPSE_CONFIG_DIR=/config", "SYNAPSE_DATA_DIR=/data", "UID=991", "GID=991"],
        networksAdvanced: [{ name: `${p}-net`, aliases: [`${p}-synapse`] }],
        ports: [{ internal: 8008, external: 8082, ip: "127.0.0.1", protocol: "tcp" }],
        volumes: [
          { containerPath: "/data", volumeName: `${p}-synapse-data`, readOnly: false },
          { containerPath: "/config", hostPath: `/opt/matrix-kit/${stack}/synapse`, readOnly: true },
        ],
        // Once a minute (issue 20: each check is an exec the engine pays for); every 2 s while starting
        // only where the stack says its engine takes it (prod: matrix:healthcheck.startInterval).
        healthcheck: {
          tests: ["CMD", "curl", "-fSs", "http://localhost:8008/health"],
          interval: "1m0s",
          timeout: "10s",
          retries: 3,
          startPeriod: "2m0s",
          ...startInterval,
        },
        stopSignal: "SIGTERM",
        stopTimeout: 30,
        destroyGraceSeconds: 30,
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
        // The kit waits for health itself (the next test), so a failure shows logs and the rollback.
        wait: false,
        mustRun: true,
      });
      assert.deepEqual(labels.slice(0, 2), [
        { label: "kit.matrix/stack", value: stack },
        { label: "kit.matrix/service", value: "synapse" },
      ]);
      // One digest per file Synapse reads: homeserver.yaml, log config, signing key, two bridge registrations, the double-puppet one.
      assert.equal(labels[2].label, "kit.matrix/config-sha256");
      assert.equal(labels[2].value.split(",").length, 6);
      // A digest is no secret: the labels show in diffs instead of [secret] (issue 15).
      assert.deepEqual(c.secretPaths.filter((x) => x.startsWith("labels")), []);
      // PostgreSQL's container as an input: replacing PostgreSQL replaces (stops) Synapse first.
      assert.deepEqual(labels[3], { label: "kit.matrix/database-container", value: `${p}-postgres-container-id` });
      for (const b of ["qq", "wechat"]) {
        assert.deepEqual(one(run, `${p}-${b}-container`).inputs.labels[3], { label: "kit.matrix/database-container", value: `${p}-postgres-container-id` });
      }
    });

    test("the update waits for PostgreSQL and Synapse to report healthy with the kit's own command, run again whenever the container is replaced; what needs them waits for it", () => {
      for (const service of ["postgres", "synapse"]) {
        const healthy = one(run, `${p}-${service}-healthy`);
        assert.deepEqual(healthy.inputs.triggers, [`${p}-${service}-container-id`]);
        assert.ok(healthy.dependencies.includes(`${p}-${service}-container`));
        assert.match(healthy.inputs.create, new RegExp(`^# matrix-kit: wait for ${p}-${service} to report healthy`));
        assert.match(healthy.inputs.create, new RegExp(`--path matrix:${service}\\.image`));
      }
      assert.ok(one(run, `${p}-postgres-databases`).dependencies.includes(`${p}-postgres-healthy`));
      for (const after of [`${p}-qq-container`, `${p}-wechat-container`, `${p}-watchdog-container`]) {
        assert.ok(one(run, after).dependencies.includes(`${p}-synapse-healthy`), `${after} waits for Synapse`);
      }
    });

    /** The inputs the watchdog and the Docker filter share: SIGTERM with 5 s, bounded logs, no wait. */
    const smallServiceTail = {
      stopSignal: "SIGTERM",
      stopTimeout: 5,
      destroyGraceSeconds: 5,
      logDriver: "json-file",
      logOpts: { "max-size": "10m", "max-file": "3" },
      wait: false,
      mustRun: true,
    };
    const kitLabels = (service: string) => [
      { label: "kit.matrix/stack", value: stack },
      { label: "kit.matrix/service", value: service },
    ];

    test("the watchdog container has exactly the expected inputs: the Synapse image running the kit's script, no Docker socket, the filter's network", () => {
      const c = one(run, `${p}-watchdog-container`);
      const { labels, ...rest } = c.inputs;
      assert.deepEqual(rest, {
        name: `${p}-watchdog`,
        image: "matrixdotorg/synapse:v1.163.2",
        entrypoints: ["python", "-u", "/watchdog/watchdog.py", "/watchdog/config.json"],
        restart: "unless-stopped",
        memory: 32,
        memorySwap: 32,
        // A fifth of the CPU budget, a small weight.
        cpus: "0.15",
        cpuShares: 128,
        envs: [],
        networksAdvanced: [
          { name: `${p}-net`, aliases: [`${p}-watchdog`] },
          { name: `${p}-docker-filter-net`, aliases: [`${p}-watchdog`] },
        ],
        ports: [],
        volumes: [
          { containerPath: "/watchdog", hostPath: `/opt/matrix-kit/${stack}/watchdog`, readOnly: true },
          // Its restart counts, read by npm run status.
          { containerPath: "/state", hostPath: `/opt/matrix-kit/${stack}/watchdog-state`, readOnly: false },
          // The backup script's result (the prod stack backs up): a failed backup is told to the owner.
          ...(stack === "prod" ? [{ containerPath: "/backup-state", hostPath: "/opt/matrix-kit/prod/backup-state", readOnly: true }] : []),
        ],
        healthcheck: {
          // Stale after a round of every bridge timing out (30 + 2 x 20 s) and a minute more.
          tests: ["CMD", "python", "-c", 'import os, sys, time; sys.exit(time.time() - os.path.getmtime("/tmp/watchdog.alive") > 130)'],
          interval: "1m0s",
          timeout: "10s",
          retries: 3,
          startPeriod: "1m0s",
          ...startInterval,
        },
        ...smallServiceTail,
      });
      assert.deepEqual(labels.slice(0, 2), kitLabels("watchdog"));
      // The script, the three modules it imports and its configuration: a change to any replaces the container.
      assert.equal(labels[2].value.split(",").length, 5);
      assert.equal(one(run, `${p}-watchdog-probe-room-write`).inputs.stdin, fs.readFileSync("templates/watchdog/probe_room.py", "utf8"));
      assert.equal(one(run, `${p}-watchdog-lib-write`).inputs.stdin, fs.readFileSync("templates/python/kit_matrix.py", "utf8"));
      const config = one(run, `${p}-watchdog-config-write`);
      assert.ok(config.secretPaths.includes("stdin"), "the configuration (it holds the shared secret) is a Pulumi secret");
      assert.equal(JSON.parse(stdinOf(run, `${p}-watchdog-config-write`)).dockerHost, `tcp://${p}-docker-filter:2375`);
      assert.ok(one(run, `${p}-watchdog-container`).dependencies.includes(`${p}-docker-filter-container`), "the filter is up before the watchdog");
    });

    test("the Docker filter: HAProxy holding the socket, as root, on an internal network of its own, with the kit's haproxy.cfg", () => {
      const c = one(run, `${p}-docker-filter-container`);
      const { labels, ...rest } = c.inputs;
      assert.deepEqual(rest, {
        name: `${p}-docker-filter`,
        image: "haproxy:3.0.5",
        command: ["haproxy", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
        user: "0",
        restart: "unless-stopped",
        memory: 24,
        memorySwap: 24,
        cpus: "0.15",
        cpuShares: 128,
        envs: [],
        networksAdvanced: [{ name: `${p}-docker-filter-net`, aliases: [`${p}-docker-filter`] }],
        ports: [],
        volumes: [
          { containerPath: "/usr/local/etc/haproxy", hostPath: `/opt/matrix-kit/${stack}/docker-filter`, readOnly: true },
          { containerPath: "/var/run/docker.sock", hostPath: "/var/run/docker.sock", readOnly: false },
        ],
        healthcheck: {
          tests: ["CMD", "haproxy", "-c", "-q", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
          interval: "1m0s",
          timeout: "10s",
          retries: 3,
          startPeriod: "10s",
          ...startInterval,
        },
        ...smallServiceTail,
      });
      assert.deepEqual(labels.slice(0, 2), kitLabels("docker-filter"));
      assert.equal(labels[2].value.split(",").length, 1, "a change of haproxy.cfg replaces the container");
      const net = one(run, `${p}-docker-filter-network`);
      assert.deepEqual(net.inputs, { name: `${p}-docker-filter-net`, driver: "bridge", internal: true, labels: [{ label: "kit.matrix/stack", value: stack }] });
      // Only the filter and the watchdog join it.
      const onIt = byType(run, CONTAINER).filter((x) => x.inputs.networksAdvanced.some((n: { name: string }) => n.name === `${p}-docker-filter-net`));
      assert.deepEqual(onIt.map((x) => x.inputs.name).sort(), [`${p}-docker-filter`, `${p}-watchdog`]);
      assert.match(stdinOf(run, `${p}-docker-filter-config-write`), new RegExp(`/containers/\\(${p}-qq\\|${p}-wechat\\)/restart`));
    });

    test("the bridges' queue: HAProxy as the image's user on the private network, with the kit's haproxy.cfg, up before the bridges", () => {
      const c = one(run, `${p}-bridge-queue-container`);
      const { labels, ...rest } = c.inputs;
      assert.deepEqual(rest, {
        name: `${p}-bridge-queue`,
        image: "haproxy:3.0.5",
        command: ["haproxy", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
        restart: "unless-stopped",
        memory: 16,
        memorySwap: 16,
        cpus: "0.15",
        cpuShares: 256,
        envs: [],
        networksAdvanced: [{ name: `${p}-net`, aliases: [`${p}-bridge-queue`] }],
        ports: [],
        volumes: [{ containerPath: "/usr/local/etc/haproxy", hostPath: `/opt/matrix-kit/${stack}/bridge-queue`, readOnly: true }],
        healthcheck: {
          tests: ["CMD", "haproxy", "-c", "-q", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
          interval: "1m0s",
          timeout: "10s",
          retries: 3,
          startPeriod: "10s",
          ...startInterval,
        },
        ...smallServiceTail,
      });
      assert.deepEqual(labels.slice(0, 2), kitLabels("bridge-queue"));
      assert.equal(labels[2].value.split(",").length, 1, "a change of haproxy.cfg replaces the container");
      assert.match(stdinOf(run, `${p}-bridge-queue-config-write`), new RegExp(`server synapse ${p}-synapse:8008 maxconn 3 resolvers docker`));
      for (const b of ["qq", "wechat"]) {
        assert.ok(one(run, `${p}-${b}-container`).dependencies.includes(`${p}-bridge-queue-container`), `the queue is up before the ${b} bridge`);
      }
    });

    test("every container stops gracefully (destroy, replacement, engine shutdown): PostgreSQL with its fast shutdown", () => {
      const stops = Object.fromEntries(
        byType(run, CONTAINER).map((c) => [c.inputs.name, [c.inputs.stopSignal, c.inputs.stopTimeout, c.inputs.destroyGraceSeconds]]),
      );
      assert.deepEqual(stops, {
        [`${p}-postgres`]: ["SIGINT", 60, 60],
        [`${p}-synapse`]: ["SIGTERM", 30, 30],
        [`${p}-qq`]: ["SIGTERM", 15, 15],
        [`${p}-wechat`]: ["SIGTERM", 15, 15],
        [`${p}-docker-filter`]: ["SIGTERM", 5, 5],
        [`${p}-watchdog`]: ["SIGTERM", 5, 5],
        [`${p}-bridge-queue`]: ["SIGTERM", 5, 5],
      });
    });

    test("every container has a CPU cap within cpu.total - cpu.reserve and its weight: Synapse and PostgreSQL first, bridges and watchdog small, upkeep lowest", () => {
      const cpu = Object.fromEntries(byType(run, CONTAINER).map((c) => [c.inputs.name, [c.inputs.cpus, c.inputs.cpuShares]]));
      assert.deepEqual(cpu, {
        [`${p}-postgres`]: ["0.75", 1024],
        [`${p}-synapse`]: ["0.75", 1024],
        [`${p}-qq`]: ["0.37", 256],
        [`${p}-wechat`]: ["0.37", 256],
        [`${p}-docker-filter`]: ["0.15", 128],
        [`${p}-watchdog`]: ["0.15", 128],
        [`${p}-bridge-queue`]: ["0.15", 256],
      });
      // The upkeep job is a `docker run` from cron, not a docker.Container: its flags are in its script.
      assert.match(stdinOf(run, `${p}-upkeep-run-write`), /^ {4}--cpus 0\.37 --cpu-shares 32 \\$/m);
    });

    test("PostgreSQL: password from a file the postgres user alone reads, C-locale cluster, data on a named volume", () => {
      const c = one(run, `${p}-postgres-container`);
      assert.deepEqual(c.secretPaths, []);
      assert.deepEqual(c.inputs.envs, [
        "POSTGRES_USER=synapse",
        "POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password",
        "POSTGRES_DB=postgres",
        "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C",
      ]);
      assert.deepEqual(c.inputs.ports, []);
      assert.deepEqual(c.inputs.volumes, [
        { containerPath: "/var/lib/postgresql/data", volumeName: `${p}-postgres-data`, readOnly: false },
        { containerPath: "/run/secrets/postgres-password", hostPath: `/opt/matrix-kit/${stack}/postgres/password`, readOnly: true },
      ]);
      const write = one(run, `${p}-postgres-password-write`);
      assert.match(write.inputs.create, /chown 999:999 "\$tmp"\nchmod 0600 "\$tmp"/);
      assert.equal(write.inputs.stdin, `${deriveSecrets(TEST_SECRETS["matrix:secretSeed"]).postgresPassword}\n`);
      assert.ok(c.dependencies.includes(`${p}-postgres-password-write`), "the file is there before the server starts");
      const sql = stdinOf(run, `${p}-postgres-databases`);
      assert.match(sql, /CREATE DATABASE synapse OWNER homeserver ENCODING ''UTF8'' LC_COLLATE ''C'' LC_CTYPE ''C'' TEMPLATE template0/);
      assert.match(sql, /CREATE DATABASE qqbridge OWNER qqbridge /);
      assert.match(sql, /CREATE DATABASE wechatbridge OWNER wechatbridge /);
      assert.match(sql, /ALTER ROLE qqbridge WITH LOGIN NOSUPERUSER .* PASSWORD 'SCRAM-SHA-256\$4096:/);
    });

    test("nginx body size equals Synapse's max_upload_size (one setting drives both)", () => {
      const hs = parse(stdinOf(run, `${p}-synapse-config-write`));
      const site = stdinOf(run, `${p}-nginx-site`);
      const bodies = [...site.matchAll(/client_max_body_size (\S+);/g)].map((m) => m[1]);
      assert.deepEqual(bodies, [hs.max_upload_size]);
      assert.equal(hs.max_upload_size, stack === "prod" ? "100M" : "50M");
      assert.match(site, /proxy_http_version 1\.1;/);
    });

    test("the /_wechat location upgrades to a WebSocket on the 127.0.0.1 listener", () => {
      const site = stdinOf(run, `${p}-nginx-site`);
      const block = site.match(/location \/_wechat \{([^}]*)\}/);
      assert.ok(block, "a /_wechat location");
      assert.match(block[1], /proxy_pass http:\/\/127\.0\.0\.1:8083;/);
      assert.match(block[1], /proxy_http_version 1\.1;/);
      assert.match(block[1], /proxy_set_header Upgrade \$http_upgrade;/);
      assert.match(block[1], /proxy_set_header Connection "upgrade";/);
      const wechat = one(run, `${p}-wechat-container`);
      assert.deepEqual(wechat.inputs.ports, [{ internal: 20002, external: 8083, ip: "127.0.0.1", protocol: "tcp" }]);
    });

    test("bridge tokens and bot names are equal on both sides", () => {
      for (const kind of ["qq", "wechat"]) {
        const config = parse(stdinOf(run, `${p}-${kind}-config-write`));
        const inSynapse = parse(stdinOf(run, `${p}-synapse-${kind}-registration-write`));
        const inBridge = parse(stdinOf(run, `${p}-${kind}-registration-write`));
        assert.deepEqual(inBridge, inSynapse, `${kind}: the bridge's registration is Synapse's`);
        assert.equal(config.appservice.as_token, inSynapse.as_token);
        assert.equal(config.appservice.hs_token, inSynapse.hs_token);
        assert.equal(config.appservice.bot.username, inSynapse.sender_localpart);
        assert.equal(config.appservice.address, inSynapse.url);
        assert.equal(config.appservice.hostname, "0.0.0.0");
        assert.notEqual(inSynapse.as_token, inSynapse.hs_token);
      }
      const hs = parse(stdinOf(run, `${p}-synapse-config-write`));
      assert.deepEqual(hs.app_service_config_files, ["/config/appservices/qq.yaml", "/config/appservices/wechat.yaml", "/config/appservices/kit-doublepuppet.yaml"]);
    });

    test("double puppeting: one app service token, the owner's namespace (not exclusive, no URL), in both bridges' secrets and the watchdog's probe", () => {
      const dp = parse(stdinOf(run, `${p}-synapse-double-puppet-registration-write`));
      const domain = { local: "kit.localhost", dev: "dev.example.com", prod: "example.com" }[stack];
      const owner = `@${parse(fs.readFileSync(`stacks/Pulumi.${stack}.yaml`, "utf8")).config["matrix:admin"] ?? "admin"}:${domain}`;
      assert.deepEqual({ ...dp, as_token: "-", hs_token: "-" }, {
        id: "kit-doublepuppet", url: null, as_token: "-", hs_token: "-", sender_localpart: "kit-doublepuppet", rate_limited: false,
        namespaces: { users: [{ regex: `^${owner.replace(/[.]/g, "\\.")}$`, exclusive: false }], aliases: [], rooms: [] },
      });
      assert.notEqual(dp.as_token, dp.hs_token);
      const qq = parse(stdinOf(run, `${p}-qq-config-write`));
      const wc = parse(stdinOf(run, `${p}-wechat-config-write`));
      // matrix-qq (mautrix-go v0.23.0): double_puppet.secrets; matrix-wechat 0.2.4: bridge.login_shared_secret_map.
      assert.deepEqual(qq.double_puppet, { servers: {}, allow_discovery: false, secrets: { [domain]: `as_token:${dp.as_token}` } });
      assert.deepEqual(wc.bridge.login_shared_secret_map, { [domain]: `as_token:${dp.as_token}` });
      assert.equal(wc.bridge.double_puppet_allow_discovery, false);
      assert.equal(JSON.parse(stdinOf(run, `${p}-watchdog-config-write`)).doublePuppetToken, dp.as_token);
    });

    test("every input carrying a secret is a Pulumi secret, and no secret appears elsewhere", () => {
      const leaks: string[] = [];
      const secretValues = [...Object.values(TEST_SECRETS)];
      const hs = parse(stdinOf(run, `${p}-synapse-config-write`));
      secretValues.push(hs.registration_shared_secret, hs.macaroon_secret_key, hs.form_secret, hs.database.args.password);
      const qq = parse(stdinOf(run, `${p}-qq-config-write`));
      const wc = parse(stdinOf(run, `${p}-wechat-config-write`));
      secretValues.push(qq.appservice.as_token, qq.appservice.hs_token, wc.appservice.as_token, wc.bridge.listen_secret);
      const dp = parse(stdinOf(run, `${p}-synapse-double-puppet-registration-write`));
      secretValues.push(dp.as_token, dp.hs_token);
      for (const r of run.resources) {
        for (const [key, value] of Object.entries(r.inputs)) {
          if (r.secretPaths.some((sp) => sp === key || sp.startsWith(`${key}.`) || sp.startsWith(`${key}[`))) continue;
          const text = JSON.stringify(value);
          for (const sv of secretValues) if (text.includes(sv.trim())) leaks.push(`${r.name}.${key}`);
        }
      }
      assert.deepEqual(leaks, []);
      assert.ok(one(run, `${p}-synapse-config-write`).secretPaths.includes("stdin"));
      assert.ok(one(run, `${p}-synapse-signing-key-write`).secretPaths.includes("stdin"));
    });

    test("upkeep: a cron entry for the job, written after the cron check, removed on destroy without touching /etc/cron.d; its files root-owned, the config secret", () => {
      const cron = one(run, `${p}-upkeep-cron-write`);
      assert.equal(
        cron.inputs.stdin,
        `# Managed by matrix-kit (stack ${stack}): the upkeep job (media expiry by uploader,\n# database upkeep). Written by \`pulumi up\`, removed by \`pulumi destroy\`; edits are overwritten.\n` +
          `SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n17 4 * * * root /opt/matrix-kit/${stack}/upkeep/run.sh --scheduled\n`,
      );
      assert.match(cron.inputs.create, new RegExp(`chown 0:0 "\\$tmp"\nchmod 0644 "\\$tmp"\nmv -f "\\$tmp" '/etc/cron.d/${p}-upkeep'`));
      // Only the file: /etc/cron.d belongs to the system.
      assert.equal(cron.inputs.delete, `# matrix-kit: remove /etc/cron.d/${p}-upkeep, then the directories the kit made for it while they are empty.\nset -eu\nrm -f '/etc/cron.d/${p}-upkeep'\nfor d in; do\n  rmdir "$d" 2>/dev/null || break\ndone\n`);
      assert.match(one(run, `${p}-upkeep-cron-check`).inputs.create, /needs cron on the VPS/);
      assert.match(one(run, `${p}-upkeep-run-write`).inputs.create, /chmod 0755/);
      assert.equal(one(run, `${p}-upkeep-lib-write`).inputs.stdin, fs.readFileSync("templates/python/kit_matrix.py", "utf8"));
      const config = one(run, `${p}-upkeep-config-write`);
      assert.ok(config.secretPaths.includes("stdin"), "the job's config holds the database password");
      assert.match(config.inputs.create, /chmod 0600/);
      assert.match(one(run, `${p}-upkeep-cache`).inputs.delete, new RegExp(`rm -rf '/opt/matrix-kit/${stack}/upkeep/cache'`));
      const admin = one(run, `${p}-synapse-admin-account-write`);
      assert.ok(admin.secretPaths.includes("stdin"));
      assert.match(admin.inputs.create, /chown 0:0 "\$tmp"\nchmod 0600/);
      // The token the job and npm run stickers keep beside it goes on destroy, after the account file.
      assert.match(one(run, `${p}-synapse-admin-token`).inputs.delete, new RegExp(`rm -f '/opt/matrix-kit/${stack}/admin/token'`));
    });

    test("backups: the scripts and the nightly cron entry (root only) when the stack sets a repository, the password a secret after the restic check, a backup before an image upgrade; nothing otherwise", async () => {
      const names = run.resources.filter((r) => r.name.startsWith(`${p}-backup`)).map((r) => r.name);
      if (stack !== "prod") {
        assert.deepEqual(names, []);
        return;
      }
      const settings = settingsFromStackFile("prod");
      assert.ok(settings.backup.enabled);
      assert.equal(one(run, `${p}-backup-script-write`).inputs.stdin, renderBackupScript(settings, settings.backup));
      assert.match(one(run, `${p}-backup-script-write`).inputs.create, /chmod 0700 "\$tmp"\nmv -f "\$tmp" '\/opt\/matrix-kit\/prod\/backup\/backup\.sh'/);
      assert.equal(one(run, `${p}-backup-restore-write`).inputs.stdin, renderRestoreScript(settings, settings.backup));
      const password = one(run, `${p}-backup-password-write`);
      assert.ok(password.secretPaths.includes("stdin"), "the repository's password is a Pulumi secret");
      assert.match(password.inputs.create, /chmod 0600/);
      assert.ok(password.dependencies.includes(`${p}-backup-restic-check`), "written after restic is found on the VPS");
      assert.match(one(run, `${p}-backup-restic-check`).inputs.create, /backups need restic on the VPS \(Debian\/Ubuntu: apt-get install restic\), or unset matrix:backup\.repository/);
      assert.equal(
        one(run, `${p}-backup-cron-write`).inputs.stdin,
        "# Managed by matrix-kit (stack prod): the nightly backup (restic, then forget --prune and\n# check). Written by `pulumi up`, removed by `pulumi destroy`; edits are overwritten.\n" +
          "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n47 4 * * * root /opt/matrix-kit/prod/backup/backup.sh nightly >>/var/log/mx-prod-backup.log 2>&1\n",
      );
      assert.match(one(run, `${p}-backup-work`).inputs.delete, /rm -rf '\/opt\/matrix-kit\/prod\/backup'/);
      assert.match(one(run, `${p}-backup-state`).inputs.delete, /rm -rf '\/opt\/matrix-kit\/prod\/backup-state'/);
      // Before an image upgrade: run again whenever an image changes, after the backup's scripts, and every container holding data waits for it.
      const upgrade = one(run, `${p}-upgrade-before`);
      assert.deepEqual(upgrade.inputs.triggers, ["postgres:16.10-bookworm", "matrixdotorg/synapse:v1.163.2", "lxduo/matrix-qq:0.2.1", "lxduo/matrix-wechat:0.2.4"]);
      assert.match(upgrade.inputs.create, /if ! out=\$\('\/opt\/matrix-kit\/prod\/backup\/backup\.sh' upgrade 2>&1\); then/);
      assert.match(upgrade.inputs.create, /no container was replaced/);
      assert.ok(upgrade.dependencies.includes(`${p}-backup-script-write`), "after the script is on the host");
      for (const c of ["postgres", "synapse", "qq", "wechat"]) assert.ok(one(run, `${p}-${c}-container`).dependencies.includes(`${p}-upgrade-before`), `${c} is replaced after the backup`);
      const off = await runProgram({ stack: "prod", secrets: TEST_SECRETS, values: { "matrix:backup": { repository: "sftp:r@b:/x", beforeUpgrade: false } } });
      assert.doesNotMatch(one(off, `${p}-upgrade-before`).inputs.create, /backup\.sh/, "without beforeUpgrade the step only notes the images");
    });

    test("stickers: the widget's page, script and style, world-readable for nginx, and nginx's /stickers/ location", () => {
      for (const [id, file] of [["page", "index.html"], ["script", "widget.js"], ["style", "widget.css"]]) {
        const w = one(run, `${p}-stickers-${id}-write`);
        assert.equal(w.inputs.stdin, fs.readFileSync(`templates/stickers/${file}`, "utf8"));
        assert.match(w.inputs.create, new RegExp(`chmod 0644 "\\$tmp"\nmv -f "\\$tmp" '/opt/matrix-kit/${stack}/stickers/${file.replace(".", "\\.")}'`));
      }
      assert.match(stdinOf(run, `${p}-nginx-site`), new RegExp(`location /stickers/ \\{\n\\s+alias /opt/matrix-kit/${stack}/stickers/;`));
    });

    test("a second run registers byte-identical inputs (nothing for a second `pulumi up` to change)", async () => {
      const again = await runProgram({ stack, secrets: TEST_SECRETS });
      assert.equal(JSON.stringify(again.resources), JSON.stringify(run.resources));
    });

    if (stack === "local") {
      test("local: the local Docker socket and local shell commands, no Cloudflare", () => {
        assert.equal(one(run, `${p}-host-docker`).inputs.host, "unix:///var/run/docker.sock");
        assert.equal(byType(run, REMOTE_CMD).length, 0);
        assert.ok(byType(run, LOCAL_CMD).length > 0);
        assert.deepEqual(run.resources.filter((r) => r.type.startsWith("cloudflare:")), []);
        const site = stdinOf(run, `${p}-nginx-site`);
        assert.match(site, /server_name kit\.localhost;[\s\S]*location = \/\.well-known\/matrix\/client/);
      });
    } else {
      test("VPS: docker over ssh://, commands over SSH with the key as a secret", () => {
        const host = stack === "dev" ? "root@203.0.113.10:22" : "deploy@198.51.100.7:22";
        const provider = one(run, `${p}-host-docker`);
        assert.equal(provider.inputs.host, `ssh://${host}`);
        // Provider inputs reach the engine as JSON text.
        const address = stack === "dev" ? "203.0.113.10" : "198.51.100.7";
        const hostKey = parse(fs.readFileSync(`stacks/Pulumi.${stack}.yaml`, "utf8")).config["matrix:target"].hostKey as string;
        // Only what the kit passes reaches the provider's `ssh` (seen under the real engine): the pinned key
        // travels in the options themselves, which refresh and destroy read from the state (issue 15).
        assert.deepEqual(JSON.parse(provider.inputs.sshOpts), [
          "-i", `~/.ssh/matrix-${stack}`, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
          "-o", `KnownHostsCommand=/bin/echo ${address} ${hostKey}`, "-o", "UserKnownHostsFile=/dev/null",
          "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
        ]);
        // The check that compares keys runs as an invoke (on every preview and up) and writes nothing.
        assert.deepEqual(run.invokes.map((i) => i.token), ["command:local:run"]);
        const check = run.invokes[0].inputs;
        assert.deepEqual(check.interpreter, ["/bin/sh", "-c"]);
        assert.equal(check.logging, "none", "its words reach the user once, as the run's error");
        assert.ok(check.command.includes(`ssh-keyscan -T 20 -p 22 -t ed25519 '${address}'`), check.command);
        assert.ok(check.command.includes(`elif [ "$seen" != '${hostKey}' ]`), check.command);
        assert.doesNotMatch(check.command, /mkdir|mv |>\s*"?\$/, "the check writes no file");
        assert.deepEqual(byType(run, LOCAL_CMD).map((c) => c.name), [`${p}-host-destroy-guard`]);
        for (const cmd of byType(run, REMOTE_CMD)) {
          assert.equal(cmd.inputs.addPreviousOutputInEnv, false, `${cmd.name}: no environment requests sshd refuses`);
          assert.ok(cmd.secretPaths.includes("connection"), `${cmd.name}: connection is secret`);
          assert.equal(cmd.inputs.connection.privateKey, TEST_SECRETS["matrix:sshPrivateKey"]);
          assert.equal(cmd.inputs.connection.hostKey, hostKey, `${cmd.name}: the command provider checks the host key`);
        }
      });

      test("Cloudflare: DNS record, Worker and its route on <domain>/.well-known/matrix/*", () => {
        const domain = stack === "dev" ? "dev.example.com" : "example.com";
        const cf = stack === "dev"
          ? { zone: "0123456789abcdef0123456789abcdef", account: "fedcba9876543210fedcba9876543210", origin: "203.0.113.10" }
          : { zone: "00112233445566778899aabbccddeeff", account: "ffeeddccbbaa99887766554433221100", origin: "198.51.100.7" };
        assert.deepEqual(one(run, `${p}-edge-provider`).inputs, { apiToken: TEST_SECRETS["matrix:cloudflareApiToken"] });
        assert.deepEqual(one(run, `${p}-edge-provider`).secretPaths, ["apiToken"]);
        assert.deepEqual(one(run, `${p}-edge-matrix-host`).inputs, {
          zoneId: cf.zone, name: `matrix.${domain}`, type: "A", content: cf.origin, proxied: true, ttl: 1,
          comment: `matrix-kit ${stack}: Synapse behind host nginx`,
        });
        const script = one(run, `${p}-edge-well-known`).inputs;
        assert.deepEqual({ ...script, content: undefined }, {
          accountId: cf.account, scriptName: `matrix-well-known-${stack}`, content: undefined, mainModule: "well-known.mjs", compatibilityDate: "2025-01-01",
        });
        assert.match(script.content, new RegExp(`"m.server":"matrix\\.${domain.replace(/\./g, "\\.")}:443"`));
        assert.deepEqual(one(run, `${p}-edge-well-known-route`).inputs, {
          zoneId: cf.zone, pattern: `${domain}/.well-known/matrix/*`, script: `matrix-well-known-${stack}`,
        });
        assert.doesNotMatch(stdinOf(run, `${p}-nginx-site`), /well-known/, "nginx leaves discovery to the Worker");
      });
    }
  });
}

test("matrix:target.hostKey insecure-accept-any: no check, ssh told to accept any key, no hostKey on commands", async () => {
  const run = await runProgram({
    stack: "dev",
    secrets: TEST_SECRETS,
    values: { "matrix:target": { kind: "ssh", host: "203.0.113.10", hostKey: "insecure-accept-any" } },
  });
  assert.deepEqual(run.invokes, []);
  assert.deepEqual(JSON.parse(one(run, "mx-dev-host-docker").inputs.sshOpts), [
    "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR",
  ]);
  for (const cmd of byType(run, REMOTE_CMD)) assert.equal("hostKey" in cmd.inputs.connection, false, cmd.name);
});

describe("bad config under Pulumi mocks", () => {
  test("the program stops with a RunError (printed without a stack trace) naming every key, and registers no resource", async () => {
    await assert.rejects(
      runProgram({
        stack: "broken",
        fromStackFile: false,
        values: { "matrix:domain": "Not A Domain", "matrix:target": { kind: "ssh" }, "matrix:synapse": { maxUploadSize: "huge" } },
        secrets: { "matrix:secretSeed": TEST_SECRETS["matrix:secretSeed"] },
      }).then((r) => assert.deepEqual(r.resources, [], "no resource before validation")),
      (e: Error) => {
        assert.ok(pulumi.RunError.isInstance(e), `a RunError, got ${e.name}`);
        // Error.stack is the error's own (a field named `stack` once overwrote it with the stack's name).
        assert.match(String(e.stack), /^Error: stack "broken" has 5 configuration problem\(s\):/);
        assert.equal(e.message.split("\n")[0], 'stack "broken" has 5 configuration problem(s):');
        assert.match(e.message, /\n {2}- matrix:domain must be a lower-case DNS name/);
        assert.match(e.message, /\n {2}- matrix:target\.host is required/);
        assert.match(e.message, /\n {2}- matrix:synapse\.maxUploadSize must be a size like "50M"/);
        assert.match(e.message, /\n {2}- matrix:sshPrivateKey is required/);
        return true;
      },
    );
  });
});

describe("preflight under Pulumi mocks (the host-key invoke answered by the test)", () => {
  const mismatch = [
    "matrix-kit: the ssh host key of 203.0.113.10 port 22 does not match matrix:target.hostKey. Stopped before changing anything.",
    "  the VPS presents:         ssh-ed25519 AAAAother",
  ].join("\n");
  test("a host key check that does not end in the kit's OK line stops the run with the check's own words, before any resource", async () => {
    await assert.rejects(runProgram({ stack: "dev", secrets: TEST_SECRETS, invokes: () => mismatch }), (e: Error & { registered?: string[] }) => {
      assert.ok(pulumi.RunError.isInstance(e), `a RunError, got ${e.name}`);
      assert.equal(e.message, mismatch);
      assert.deepEqual((e.registered ?? []).filter((r) => !r.startsWith("pulumi:pulumi:Stack")), []);
      return true;
    });
  });
});

test("the destroy guard depends on every other resource of the stack, so destroy deletes it first; its delete reaches Docker as the provider does", async () => {
  for (const stack of ["local", "prod"]) {
    const run = await runProgram({ stack, secrets: TEST_SECRETS });
    const p = `mx-${stack}`;
    const guard = one(run, `${p}-host-destroy-guard`);
    const custom = run.resources.filter((r) => !r.type.startsWith("kit:") && !r.type.startsWith("pulumi:") && r !== guard).map((r) => r.name);
    assert.deepEqual(custom.filter((n) => !guard.dependencies.includes(n)), [], `${stack}: every resource is deleted after the guard`);
    assert.equal(guard.inputs.create, "true");
    assert.equal(guard.inputs.addPreviousOutputInEnv, false);
    if (stack === "local") assert.match(guard.inputs.delete, /if ! out=\$\(docker version --format '\{\{\.Server\.Version\}\}' 2>&1\)/);
    else {
      const opts = JSON.parse(one(run, `${p}-host-docker`).inputs.sshOpts) as string[];
      assert.ok(guard.inputs.delete.includes(["ssh", "-p", "22", "-l", "deploy", ...opts, "198.51.100.7", "docker"].map((a) => `'${a}'`).join(" ")), guard.inputs.delete);
    }
    assert.match(guard.inputs.delete, /Nothing was removed/);
    // The prod stack backs up (matrix:backup.beforeDestroy defaults to true): after reaching Docker, before anything is removed.
    if (stack === "prod") assert.ok(guard.inputs.delete.includes(`'198.51.100.7' '/opt/matrix-kit/prod/backup/backup.sh' 'destroy'`), guard.inputs.delete);
    else assert.doesNotMatch(guard.inputs.delete, /backup/);
  }
  const off = await runProgram({ stack: "prod", secrets: TEST_SECRETS, values: { "matrix:backup": { repository: "sftp:r@b:/x", beforeDestroy: false } } });
  assert.doesNotMatch(one(off, "mx-prod-host-destroy-guard").inputs.delete, /backup/);
});

test("no Cloudflare and no TLS: a warning at preview and up that the server cannot federate", async () => {
  const warnings: string[] = [];
  const warn = pulumi.log.warn;
  pulumi.log.warn = (async (msg: string) => void warnings.push(msg)) as unknown as typeof pulumi.log.warn;
  try {
    await runProgram({ stack: "local", secrets: TEST_SECRETS });
    await runProgram({ stack: "prod", secrets: TEST_SECRETS });
    // With federation off there is no other server to reach it: nothing to warn about.
    await runProgram({ stack: "local", secrets: TEST_SECRETS, values: { "matrix:federation": { mode: "off" } } });
  } finally {
    pulumi.log.warn = warn;
  }
  assert.deepEqual(warnings.filter((w) => /cannot federate/.test(w)).length, 1, warnings.join("\n"));
  assert.match(warnings.find((w) => /cannot federate/.test(w))!, /^kit\.localhost cannot federate: matrix:cloudflare\.enabled is false and matrix:nginx\.tls is not set/);
});

test("backups: a stack without a repository is warned about at preview and up; one on the VPS's own disk too; one elsewhere is not", async () => {
  const warningsFor = async (backup: unknown) => {
    const warnings: string[] = [];
    const warn = pulumi.log.warn;
    pulumi.log.warn = (async (msg: string) => void warnings.push(msg)) as unknown as typeof pulumi.log.warn;
    try {
      await runProgram({ stack: "prod", secrets: TEST_SECRETS, values: backup === undefined ? {} : { "matrix:backup": backup } });
    } finally {
      pulumi.log.warn = warn;
    }
    return warnings.filter((w) => /back/.test(w));
  };
  assert.deepEqual(await warningsFor(undefined), []);
  assert.deepEqual(await warningsFor({ repository: null }), ["nothing backs up example.com: matrix:backup.repository is not set, so a lost VPS or volume loses every conversation (README: Backup)."]);
  assert.deepEqual(await warningsFor({ repository: "/srv/restic" }), [
    "matrix:backup.repository /srv/restic is a folder on the VPS itself: a lost VPS loses its backups with it. Use a repository on another machine (sftp:, rest:, s3:, b2: ...).",
  ]);
});
