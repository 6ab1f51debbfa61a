/**
 * Hostile values. Every string setting of the schema (the list is read from
 * infra/config/schema.ts, so a new one without a corpus entry fails here) is tried with values
 * that break a file when pasted raw: newline, ; { } quotes $ ` # backslash, handlebars, YAML
 * specials, NUL, very long, non-ASCII, spaces around, ../. Each one is either refused by
 * validation with a problem naming that key, or every file the kit renders keeps its structure:
 * - the nginx site: the same directive skeleton (server blocks, locations, directives) as the good
 *   render, and the real `nginx -t` accepts it (all such sites in one batched run, last test);
 * - YAML and JSON files parse to the same key paths (values may differ);
 * - shell scripts: real sh/bash -n passes, and the value appears only inside single quotes;
 * - cron files: the same lines with the same number of fields; the Worker: node --check.
 * A render that throws is a failure too: validation should have refused the value.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { validate } from "../../infra/config";
import { schema } from "../../infra/config/schema";
import { plan, renderFiles, type FileKind } from "../../infra/render/all";
import { backupPaths } from "../../infra/render/backup";
import { renderAwaitHealthyScript, renderBeforeUpgradeScript } from "../../infra/render/upgrade";
import { chownVolumeScript, initDatabasesScript, installNginxSiteScript, removeFileScript, removeNginxSiteScript, writeFileScript } from "../../infra/render/host";
import { hostKeyCheckScript, reachDockerScript } from "../../infra/render/ssh";
import { upkeepDrainScript } from "../../infra/render/upkeep";
import { deriveSecrets } from "../../infra/secrets";
import { containerName, volumeName, type Settings } from "../../infra/settings";
import { privateNginxConf } from "../harness/private-nginx";
import { goodValues } from "../fixtures/good-setting-values";
import { hasParent, keyPaths, nginxSkeleton, setAt, stringSettingPaths, unquotedShellOccurrences, type Stack } from "../harness/structure";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-hostile-"));
const SECRETS = deriveSecrets("hostile-values-seed");
const GOOD = goodValues(TMP);

const PAYLOADS = ["\n", "\r", "\0", ";", "{", "}", '"', "'", "`id`", "$HOME", "${x}", "#", "\\", "{{stack}}", "}}", ": x", "\n- x", "&a", "*a", "!x", "é漢✓", " "];

/** The hostile versions of a good value. */
function hostileValues(good: string): string[] {
  return [
    ...PAYLOADS.flatMap((p) => [`${good}${p}`, `${p}${good}`]),
    `${good}\nserver { listen 1; }`,
    `${good}'; rm -rf / #`,
    `${good}${"x".repeat(5000)}`,
    "x".repeat(5000),
    `../${good}`,
    `${good}/../../etc/passwd`,
  ];
}

/** Two stacks between them render every file: behind Cloudflare with TLS at the origin, and plain origin. */
const BASES: Record<string, Stack> = {};
for (const [name, edge] of [["edge", true], ["origin", false]] as const) {
  const stack: Stack = {};
  for (const [k, v] of Object.entries(GOOD)) setAt(stack, k, v);
  setAt(stack, "nginx.httpPort", 8080);
  setAt(stack, "cloudflare.enabled", edge);
  if (edge) setAt(stack, "nginx.tls.port", 8443);
  else delete (stack.nginx as Stack).tls;
  BASES[name] = stack;
}

function validateStack(stack: Stack) {
  const values = Object.fromEntries(Object.entries(stack).map(([k, v]) => [`matrix:${k}`, v]));
  return validate("hostile", { values, secretKeys: new Set() }, { requireSecrets: false });
}

interface Rendered {
  name: string;
  kind: FileKind;
  content: string;
}

/** Every file and host script the kit renders from these settings, in a fixed order. */
function renderAll(s: Settings): Rendered[] {
  const files: Rendered[] = renderFiles(s, SECRETS).map((f) => ({ name: f.path, kind: f.kind, content: f.content }));
  const t = s.target;
  const scripts: [string, string][] = [
    ["install nginx site", installNginxSiteScript(s)],
    ["remove nginx site", removeNginxSiteScript(s)],
    ["destroy guard", reachDockerScript(t, s.backup.enabled ? { stack: s.stack, script: backupPaths(s).script } : undefined)],
    ["before upgrade", renderBeforeUpgradeScript(s)],
    ["await Synapse healthy", renderAwaitHealthyScript(s, "synapse")],
    ["await PostgreSQL healthy", renderAwaitHealthyScript(s, "postgres")],
    ["upkeep drain", upkeepDrainScript(s)],
    ["chown volume", chownVolumeScript(volumeName(s, "synapse"), s.synapse.image, s.synapse.uid, s.synapse.gid)],
    ["init databases", initDatabasesScript(containerName(s, "postgres"), s.postgres.superuser)],
    ...(t.kind === "ssh" && t.hostKey ? [["host key check", hostKeyCheckScript({ ...t, hostKey: t.hostKey })] as [string, string]] : []),
    ...files.flatMap((f): [string, string][] => [
      [`write ${f.name}`, writeFileScript(f.name, { uid: 0, gid: 0, mode: "0600" })],
      [`remove ${f.name}`, removeFileScript(f.name, f.name.startsWith(`${s.hostDir}/`) ? s.hostDir : null)],
    ]),
  ];
  return [
    ...files,
    ...scripts.map(([name, content]) => ({ name, kind: "shell" as const, content })),
    { name: "plan.json", kind: "json", content: JSON.stringify(plan(s)) },
  ];
}

function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { input, encoding: "utf8" });
}

/** Sites to put through the real `nginx -t` at the end (distinct texts, by what produced them). */
const sites = new Map<string, string>();
let tried = 0;
let accepted = 0;

/** Scripts to put through the real sh/bash -n, in one batch per setting. */
let shellChecks: { label: string; content: string }[] = [];

/** The syntax errors of the scripts in shellChecks (real sh, or bash for a bash script), one run for them all. */
function shellSyntaxProblems(): string[] {
  const dir = fs.mkdtempSync(path.join(TMP, "sh-"));
  shellChecks.forEach((x, i) => fs.writeFileSync(path.join(dir, `${i}.${/^#!.*bash/.test(x.content) ? "bash" : "sh"}`), x.content));
  const r = run("sh", ["-c", 'for f in "$1"/*; do "${f##*.}" -n "$f" 2>&1 || echo "::failed $f"; done', "-", dir]);
  const failed = [...r.stdout.matchAll(/::failed .*\/(\d+)\.\w+$/gm)].map((m) => shellChecks[Number(m[1])].label);
  return failed.length > 0 ? [...failed.map((l) => `${l}: syntax error`), r.stdout] : [];
}

/** Why `hostile` does not keep `good`'s structure (empty: it does). `value`s: as set, in each. */
function structureProblems(good: Rendered, hostile: Rendered, goodValue: string, value: string, label: string): string[] {
  if (good.kind !== hostile.kind) return [`${good.name} became a ${hostile.kind} file`];
  if (good.content === hostile.content) return [];
  const c = hostile.content;
  switch (hostile.kind) {
    case "nginx": {
      const [want, got] = [nginxSkeleton(good.content), nginxSkeleton(c)];
      if (JSON.stringify(want) !== JSON.stringify(got)) return [`${hostile.name}: nginx skeleton changed: ${got.filter((l) => !want.includes(l)).join(" | ")}`];
      if (!sites.has(c)) sites.set(c, label);
      return [];
    }
    case "yaml":
    case "json": {
      const parse = (text: string): unknown => (hostile.kind === "json" ? JSON.parse(text) : parseYaml(text));
      let doc: unknown;
      try {
        doc = parse(c); // the yaml package throws on any error, duplicate keys included
      } catch (e) {
        return [`${hostile.name} does not parse: ${(e as Error).message}`];
      }
      const goodDoc = parse(good.content);
      const [want, got] = [keyPaths(goodDoc, goodValue), keyPaths(doc, value)];
      return JSON.stringify(want) === JSON.stringify(got) ? [] : [`${hostile.name}: keys changed: ${got.filter((k) => !want.includes(k)).join(", ")}`];
    }
    case "shell": {
      // The command provider hands a script to sh -c as one argument: a NUL byte would cut it there.
      if (c.includes("\0")) return [`${hostile.name}: a NUL byte in the script`];
      shellChecks.push({ label: `${label}: ${hostile.name}`, content: c });
      // A value of these characters is one shell word wherever it lands.
      if (/^[A-Za-z0-9._\/:@%+=,-]*$/.test(value)) return [];
      return unquotedShellOccurrences(c, value).map((o) => `${hostile.name}: value not quoted at ${o}`);
    }
    case "cron": {
      const shape = (t: string) => t.split("\n").map((l) => (l.startsWith("#") ? "#" : String(l.trim().split(/\s+/).length)));
      return JSON.stringify(shape(good.content)) === JSON.stringify(shape(c)) ? [] : [`${hostile.name}: cron lines changed`];
    }
    case "worker": {
      const file = path.join(TMP, "worker.mjs");
      fs.writeFileSync(file, c);
      const r = run(process.execPath, ["--check", file]);
      return r.status === 0 ? [] : [`${hostile.name}: node --check: ${r.stderr.trim()}`];
    }
    case "haproxy": {
      // Each line's keyword (and word count) unchanged: a value cannot add a directive or an ACL term.
      const shape = (t: string) => t.split("\n").map((l) => l.trim().split(/\s+/).length + " " + l.trim().split(/\s+/)[0]);
      return JSON.stringify(shape(good.content)) === JSON.stringify(shape(c)) ? [] : [`${hostile.name}: haproxy.cfg lines changed`];
    }
    case "lua":
      // Numbers only reach the script: a setting's text never does.
      return [`${hostile.name}: the Lua script changed with a string setting`];
    case "key":
      return [`${hostile.name}: a key file changed with a setting`];
    case "pem": {
      // One certificate block, as openssl reads it, whatever the value.
      const r = run("openssl", ["x509", "-noout"], c);
      return r.status === 0 && (c.match(/-----BEGIN /g) ?? []).length === 1 ? [] : [`${hostile.name}: not one PEM certificate: ${r.stderr.trim()}`];
    }
  }
}

before(() => {
  const r = run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=chat.hostile.example", "-keyout", `${TMP}/key.pem`, "-out", `${TMP}/cert.pem`]);
  assert.equal(r.status, 0, r.stderr);
});
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

test("the corpus has a good value for every string setting of the schema, and no other", () => {
  assert.deepEqual(Object.keys(GOOD).sort(), stringSettingPaths(schema));
});

for (const [baseName, base] of Object.entries(BASES)) {
  describe(`hostile values, ${baseName} stack`, () => {
    const v = validateStack(base);
    assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
    const goodFiles = renderAll(v.settings);
    for (const f of goodFiles.filter((f) => f.kind === "nginx")) sites.set(f.content, `${baseName}: good`);

    // The good renders themselves first: a hostile value is judged against them, so they must parse.
    test("every script of the good render passes the real sh/bash -n", () => {
      shellChecks = goodFiles.filter((f) => f.kind === "shell").map((f) => ({ label: `${baseName}: good ${f.name}`, content: f.content }));
      const problems = shellSyntaxProblems();
      shellChecks = [];
      assert.deepEqual(problems, []);
    });

    for (const key of Object.keys(GOOD).filter((k) => hasParent(base, k))) {
      test(key, () => {
        const problems: string[] = [];
        for (const value of hostileValues(GOOD[key])) {
          tried++;
          const stack = structuredClone(base);
          setAt(stack, key, value);
          const label = `${baseName} ${key}=${JSON.stringify(value).slice(0, 60)}`;
          const r = validateStack(stack);
          if (!r.ok) {
            if (!r.errors.some((e) => e.startsWith(`matrix:${key} `))) problems.push(`${label}: refused without naming the key: ${r.errors.join("; ")}`);
            continue;
          }
          accepted++;
          let files: Rendered[];
          try {
            files = renderAll(r.settings);
          } catch (e) {
            problems.push(`${label}: accepted, then the render threw: ${(e as Error).message}`);
            continue;
          }
          if (files.length !== goodFiles.length) {
            problems.push(`${label}: ${files.length} files rendered instead of ${goodFiles.length}`);
            continue;
          }
          files.forEach((f, i) => problems.push(...structureProblems(goodFiles[i], f, GOOD[key], value, label).map((p) => `${label}: ${p}`)));
        }
        problems.push(...shellSyntaxProblems());
        shellChecks = [];
        assert.deepEqual(problems, []);
      });
    }
  });
}

/** The real `nginx -t` on all `sites` at once (each its own included file); a failure names what made the site. */
function nginxTestAll(sites: Map<string, string>, name: string): { status: number | null; stderr: string; culprit: string } {
  const dir = path.join(TMP, name);
  fs.mkdirSync(path.join(dir, "sites"), { recursive: true });
  const labels = [...sites.values()];
  // nginx -t opens the certificate, its key and the client CA, which the kit places on the VPS under
  // hostDir (Cloudflare's, ACME's): the test's own stand in for them here. The directives' arguments
  // went through the skeleton and quoting checks above.
  // The owner's notices' upstream is named from the stack's prefix, one per stack on a VPS; these
  // sites all come from one prefix, so each gets a name of its own.
  const withFiles = (site: string, i: number) =>
    site
      .replace(/ssl_certificate \S+;/g, `ssl_certificate ${TMP}/cert.pem;`)
      .replace(/ssl_certificate_key \S+;/g, `ssl_certificate_key ${TMP}/key.pem;`)
      .replace(/ssl_client_certificate \S+;/g, `ssl_client_certificate ${TMP}/cert.pem;`)
      .replace(/-owner-notices\b/g, `-owner-notices-${i}`);
  [...sites.keys()].forEach((site, i) => fs.writeFileSync(path.join(dir, "sites", `${i}.conf`), withFiles(site, i)));
  const r = run("nginx", ["-t", "-p", dir, "-e", `${dir}/error.log`, "-c", privateNginxConf(dir, `${dir}/sites/*.conf`)]);
  const failed = /sites\/(\d+)\.conf/.exec(r.stderr);
  return { status: r.status, stderr: r.stderr, culprit: failed ? labels[Number(failed[1])] : "" };
}

test("the real nginx -t accepts every distinct site rendered from an accepted value (one batched run)", (t) => {
  t.diagnostic(`${tried} hostile values tried, ${accepted} accepted and rendered; ${sites.size} distinct nginx sites`);
  assert.ok(tried > 1000 && accepted > 100, `tried ${tried} values, ${accepted} accepted`);
  const r = nginxTestAll(sites, "corpus");
  assert.equal(r.status, 0, `${r.culprit}\n${r.stderr}`);
  assert.match(r.stderr, /test is successful/);
});

test("the checks can fail: a broken site, a changed skeleton, an unquoted value", () => {
  const good = [...sites.keys()][0];
  // Before paths were bounded a hostDir of 5000 characters reached nginx's alias: "too long parameter".
  const long = good.replace(/alias \S+;/, `alias /${"x".repeat(5000)}/;`);
  const r = nginxTestAll(new Map([[good, "good"], [long, "long alias"]]), "self-test");
  assert.notEqual(r.status, 0);
  assert.equal(r.culprit, "long alias");
  assert.match(r.stderr, /too long parameter/);
  const injected = good.replace("return 404;", "return 404; } location /leak { alias /;");
  assert.notDeepEqual(nginxSkeleton(injected), nginxSkeleton(good));
  assert.deepEqual(nginxSkeleton(`a 'x; }' "{";\nb # c; }\n;\n`), [" a", " b"]);
  assert.deepEqual(unquotedShellOccurrences(`a 'v'\\''x'\n`, "v'x"), []);
  assert.equal(unquotedShellOccurrences(`a "v'x" # v'x\n`, "v'x").length, 2);
});
