/**
 * The real program under Pulumi's MOCK runtime (no engine, no providers), per stack: the exact
 * inputs its containers are registered with (ports, health, the watchdog and its Docker filter,
 * the bridges' queue, stops, CPU caps, PostgreSQL). The files, secrets and the edge:
 * program-wiring.test.ts; runs with other settings: program-settings.test.ts.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { before, describe, test } from "node:test";
import { byType, CONTAINER, one, runProgram, stdinOf, TEST_SECRETS, type ProgramRun } from "../harness/program";
import { renderPostgresWrapper } from "../../infra/render/containers";
import { deriveSecrets } from "../../infra/secrets";

for (const stack of ["local", "dev", "prod"] as const) {
  describe(`stack ${stack} under Pulumi mocks: containers`, () => {
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
        // Once a minute (each check is an exec the engine pays for); every 2 s while starting
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
      // A digest is no secret: the labels show in diffs instead of [secret].
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
      // The script and every module beside it in templates/watchdog, the Matrix client and the configuration: a change to any replaces the container.
      const modules = fs.readdirSync("templates/watchdog").filter((f) => f.endsWith(".py"));
      assert.ok(modules.includes("watchdog.py") && modules.includes("probe_room.py") && modules.includes("certificate_watch.py"), modules.join(" "));
      assert.equal(labels[2].value.split(",").length, modules.length + 2);
      assert.equal(one(run, `${p}-watchdog-probe-room-write`).inputs.stdin, fs.readFileSync("templates/watchdog/probe_room.py", "utf8"));
      assert.equal(one(run, `${p}-watchdog-lib-write`).inputs.stdin, fs.readFileSync("templates/python/kit_matrix.py", "utf8"));
      const config = one(run, `${p}-watchdog-config-write`);
      assert.ok(config.secretPaths.includes("stdin"), "the configuration (it holds the shared secret) is a Pulumi secret");
      assert.equal(JSON.parse(stdinOf(run, `${p}-watchdog-config-write`)).dockerHost, `tcp://${p}-docker-filter:2375`);
      assert.ok(one(run, `${p}-watchdog-container`).dependencies.includes(`${p}-docker-filter-container`), "the filter is up before the watchdog");
    });

    /** Both HAProxy containers (the Docker filter, the bridges' queue): healthy while their config loads. */
    const haproxyHealth = {
      tests: ["CMD", "haproxy", "-c", "-q", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
      interval: "1m0s",
      timeout: "10s",
      retries: 3,
      startPeriod: "10s",
      ...startInterval,
    };

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
        healthcheck: haproxyHealth,
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

    test("the bridges' queue: HAProxy as the image's user on the private network, with the kit's haproxy.cfg and admission script, the owner's port on loopback, up before the bridges", () => {
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
        // Host nginx announces the owner's requests here.
        ports: [{ internal: 8010, external: 8084, ip: "127.0.0.1", protocol: "tcp" }],
        volumes: [{ containerPath: "/usr/local/etc/haproxy", hostPath: `/opt/matrix-kit/${stack}/bridge-queue`, readOnly: true }],
        healthcheck: haproxyHealth,
        ...smallServiceTail,
      });
      assert.deepEqual(labels.slice(0, 2), kitLabels("bridge-queue"));
      assert.equal(labels[2].value.split(",").length, 2, "a change of haproxy.cfg or of admission.lua replaces the container");
      assert.match(stdinOf(run, `${p}-bridge-queue-config-write`), new RegExp(`server synapse ${p}-synapse:8008 maxconn 3 resolvers docker`));
      assert.match(stdinOf(run, `${p}-bridge-queue-admission-write`), /local THRESHOLD = 0\.9\nlocal OWNER_WINDOW = 30\n/);
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
        { containerPath: "/kit-bin/postgres", hostPath: `/opt/matrix-kit/${stack}/postgres/kit-bin/postgres`, readOnly: true },
      ]);
      // The image's own entrypoint, with the kit's postgres first on its PATH: it drops the password the entrypoint exported.
      assert.deepEqual(c.inputs.entrypoints, ["/bin/sh", "-c", 'PATH="/kit-bin:$PATH" exec docker-entrypoint.sh "$@"', "postgres-entrypoint"]);
      assert.equal(c.inputs.command[0], "postgres");
      const wrapper = one(run, `${p}-postgres-server-wrapper-write`);
      assert.equal(wrapper.inputs.stdin, renderPostgresWrapper());
      assert.match(wrapper.inputs.create, /chown 0:0 "\$tmp"\nchmod 0755 "\$tmp"/);
      assert.match(renderPostgresWrapper(), /^unset POSTGRES_PASSWORD PGPASSWORD\nPATH=\$\{PATH#\/kit-bin:\}\nexec postgres "\$@"\n$/m);
      assert.ok(c.dependencies.includes(`${p}-postgres-server-wrapper-write`));
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
  });
}
