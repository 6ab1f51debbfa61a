/**
 * The real program under Pulumi's MOCK runtime (no engine, no providers), per stack: the exact
 * inputs of what ties the containers together (nginx and Synapse's limits, the bridges' tokens,
 * secrets, upkeep, backups, stickers), the connection to the host, and Cloudflare; and that a
 * second run changes nothing. The containers: program-containers.test.ts.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { before, describe, test } from "node:test";
import { parse } from "yaml";
import { byType, LOCAL_CMD, one, REMOTE_CMD, runProgram, stdinOf, TEST_SECRETS, type ProgramRun } from "../harness/program";
import { settingsFromStackFile } from "../../infra/config";
import { renderBackupScript, renderRestoreScript } from "../../infra/render/backup";
import { deriveSecrets } from "../../infra/secrets";

for (const stack of ["local", "dev", "prod"] as const) {
  describe(`stack ${stack} under Pulumi mocks: files, secrets, the host and the edge`, () => {
    let run: ProgramRun;
    const p = `mx-${stack}`;
    before(async () => {
      run = await runProgram({ stack, secrets: TEST_SECRETS });
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

    test("backups: the repository opened by the VPS before anything, the scripts and the nightly cron entry (root only) when the stack sets a repository, the password a secret, a backup before an image upgrade; nothing otherwise", async () => {
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
      // Before anything: the VPS opens the repository with the stack's password (given on stdin), over the provider's ssh.
      const opens = run.invokes.filter((i) => i.token === "command:local:run" && String(i.inputs.command).includes("restic --no-cache cat config"));
      assert.equal(opens.length, 1);
      assert.equal(opens[0].inputs.stdin, deriveSecrets(TEST_SECRETS["matrix:secretSeed"]).backupPassword);
      assert.match(opens[0].inputs.command, /^'ssh' '-p' '22' '-l' 'deploy' .* '198\.51\.100\.7' 'sh -c '\\''# matrix-kit: can the VPS open matrix:backup\.repository/);
      assert.equal(opens[0].inputs.logging, "none");
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
        // travels in the options themselves, which refresh and destroy read from the state.
        assert.deepEqual(JSON.parse(provider.inputs.sshOpts), [
          "-i", `~/.ssh/matrix-${stack}`, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
          "-o", `KnownHostsCommand=/bin/echo ${address} ${hostKey}`, "-o", "UserKnownHostsFile=/dev/null",
          "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
        ]);
        // The check that compares keys runs as an invoke (on every preview and up) and writes nothing;
        // it comes first (with backups, the repository check reaches the VPS after it).
        assert.deepEqual(run.invokes.filter((i) => i.token === "command:local:run").length, stack === "prod" ? 2 : 1);
        assert.equal(run.invokes[0].token, "command:local:run");
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
