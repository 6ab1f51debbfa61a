/**
 * The real validators the render tests put rendered files through (test/render/validators.test.ts),
 * and the private mount namespaces that let a file sit at its absolute path (/config, /data,
 * /etc/ssl/...) for one command without touching the real filesystem: `nginx -t` with the site's
 * certificates in place, Synapse's own config loader (from PyPI, test/setup/validators.sh) with
 * the rendered files at /config and an empty /data, openssl for throwaway certificates.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after } from "node:test";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { DEFAULT_IMAGES } from "../../infra/config";
import type { RenderedFile } from "../../infra/render/all";
import { SYNAPSE_PATHS } from "../../infra/render/addresses";
import { hostPath, type Settings } from "../../infra/settings";
import { privateNginxConf } from "./private-nginx";

export const ROOT = path.resolve(__dirname, "../..");
const SETUP = "bash test/setup/validators.sh";
const VENV_PYTHON = path.join(ROOT, ".cache/synapse-venv/bin/python");
const SYNAPSE_HELPER = path.join(ROOT, "test/render/synapse_load_config.py");
/** The Synapse the kit deploys by default is the one whose loader judges homeserver.yaml. */
export const SYNAPSE_VERSION = DEFAULT_IMAGES.synapse.replace(/^.*:v/, "");

// Root may unshare a mount namespace directly; anyone else needs a user namespace too.
const UNSHARE = ["--mount", "--propagation", "private", ...(process.getuid?.() === 0 ? [] : ["--map-root-user"])];

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-validators-"));
// Safe to delete recursively: every mount was made inside a namespace that is gone. A hook of the
// test file that imports this module: node:test runs it when that file's tests are done.
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(TMP, `${name}-`));
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Run {
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 120_000 });
  if (r.error) assert.fail(`${file} could not run (${r.error.message}): run \`${SETUP}\` as root from the repository root`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Fails with the way out when a tool the validators use is missing. */
export function requireTool(file: string, args: string[]): void {
  const r = run(file, args);
  assert.equal(r.status, 0, `\`${file} ${args.join(" ")}\` failed: run \`${SETUP}\` as root from the repository root\n${r.stderr}`);
}

// ---- mount namespaces -------------------------------------------------------------

/**
 * Runs argv with `dir` overlaid by `upper` (overlayfs) in a private mount namespace:
 * files in `upper` appear inside `dir` there and nowhere else, the rest of `dir` stays.
 */
const OVERLAY_SH = 'mount -t overlay kit-overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$1"; shift 3; exec "$@"';
function withOverlay(dir: string, upper: string, argv: string[]): Run {
  const work = tempDir("overlay-work");
  return run("unshare", [...UNSHARE, "sh", "-euc", OVERLAY_SH, "overlay", dir, upper, work, ...argv]);
}

/** Puts `files` (absolute path -> content) in place for argv, inside the namespace only. */
function withFilesAt(files: Record<string, string>, argv: string[]): Run {
  const paths = Object.keys(files);
  if (paths.length === 0) return run(argv[0], argv.slice(1));
  // Overlay the deepest directory that exists on the host (for /etc/ssl/cloudflare/x: /etc/ssl).
  let base = path.dirname(paths[0]);
  while (!fs.existsSync(base)) base = path.dirname(base);
  assert.notEqual(base, "/", `no existing parent directory to overlay for ${paths[0]}`);
  const upper = tempDir("overlay-upper");
  for (const [p, content] of Object.entries(files)) {
    assert.ok(p.startsWith(`${base}/`), `${p} is not under ${base}: overlay one directory per call`);
    fs.mkdirSync(path.dirname(path.join(upper, path.relative(base, p))), { recursive: true });
    fs.writeFileSync(path.join(upper, path.relative(base, p)), content);
  }
  return withOverlay(base, upper, argv);
}

/**
 * Runs argv chrooted into a fake root, in a private mount namespace: a tmpfs holding
 * the real top-level directories (recursive bind mounts) plus `dirs` bound at new
 * top-level paths such as /config and /data. A plain `mkdir /config` would be a
 * directory on the real disk even when made inside a namespace; this never is.
 */
const FAKE_ROOT_SH = `
R=$1; shift
mount -t tmpfs kit-root "$R"
for d in /*; do
  if [ -L "$d" ]; then cp -P "$d" "$R$d"
  elif [ -d "$d" ]; then mkdir "$R$d"; mount --rbind "$d" "$R$d"
  fi
done
while [ "$1" != "--" ]; do mkdir -p "$R$2"; mount --bind "$1" "$R$2"; shift 2; done
shift
exec chroot "$R" "$@"`;
function inFakeRoot(dirs: Record<string, string>, argv: string[]): Run {
  const binds = Object.entries(dirs).flatMap(([at, from]) => {
    // Only new top-level paths: a deeper one would be created inside a real, bound directory.
    assert.match(at, /^\/[^/]+$/, `${at} must be a top-level path`);
    return [from, at];
  });
  return run("unshare", [...UNSHARE, "sh", "-euc", FAKE_ROOT_SH, "fake-root", tempDir("root"), ...binds, "--", ...argv]);
}

// ---- nginx --------------------------------------------------------------------------

/** `nginx -t` on `siteText`, with the site's TLS certificate files present (namespace only). */
export function nginxTest(s: Settings, siteText: string): Run {
  requireTool("nginx", ["-v"]);
  requireTool("unshare", ["--version"]);
  const dir = tempDir("nginx-t");
  const site = path.join(dir, "site.conf");
  fs.writeFileSync(site, siteText);
  // -e: the startup error log before the config is read (Debian's default is under /var/log).
  const argv = ["nginx", "-t", "-p", dir, "-e", `${dir}/error.log`, "-c", privateNginxConf(dir, site)];
  if (!s.nginx.tls) return run(argv[0], argv.slice(1));
  const tls = s.nginx.tls;
  const [cert, key] = selfSignedCert(s.matrixHost);
  // The CA nginx checks Cloudflare's client certificate against (authenticated origin pulls): any certificate reads as one.
  const clientCa = tls.clientCertificateCa ? { [tls.clientCertificateCa]: cert } : {};
  return withFilesAt({ [tls.certificate]: cert, [tls.certificateKey]: key, ...clientCa }, argv);
}

/** A throwaway self-signed certificate and key (PEM), made with openssl. */
function selfSignedCert(cn: string): [string, string] {
  requireTool("openssl", ["version"]);
  const dir = tempDir("cert");
  const r = run("openssl", [
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${cn}`],
    ...["-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`],
  ]);
  assert.equal(r.status, 0, r.stderr);
  return [fs.readFileSync(`${dir}/cert.pem`, "utf8"), fs.readFileSync(`${dir}/key.pem`, "utf8")];
}

// ---- Synapse --------------------------------------------------------------------------

/** Synapse's duration units (synapse.config._base.Config.parse_duration), in ms. */
const DURATION_MS: Record<string, number> = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, y: 31536e6 };
export function durationMs(v: string | null): number | null {
  return v === null ? null : Number(v.slice(0, -1)) * DURATION_MS[v.slice(-1)];
}

/** Runs the Synapse loader helper with the rendered synapse files at /config and an empty /data. */
export function loadSynapseConfig(s: Settings, files: RenderedFile[], edit?: (homeserver: Record<string, unknown>) => void): Run {
  requireTool(VENV_PYTHON, ["-c", "import synapse.config.homeserver"]);
  requireTool("unshare", ["--version"]);
  const config = tempDir("synapse-config");
  const synapseDir = `${hostPath(s, "synapse")}/`;
  for (const f of files.filter((f) => f.path.startsWith(synapseDir))) {
    const target = path.join(config, f.path.slice(synapseDir.length));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, f.content);
  }
  if (edit) {
    const file = path.join(config, path.basename(SYNAPSE_PATHS.config));
    const doc = parseYaml(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    edit(doc);
    fs.writeFileSync(file, stringifyYaml(doc));
  }
  const data = tempDir("synapse-data");
  const r = inFakeRoot({ [SYNAPSE_PATHS.configDir]: config, [SYNAPSE_PATHS.dataDir]: data }, [VENV_PYTHON, SYNAPSE_HELPER, SYNAPSE_PATHS.config]);
  // The loader creates the media store: proof that /data was our bound temp dir.
  if (r.status === 0) assert.ok(fs.existsSync(path.join(data, path.relative(SYNAPSE_PATHS.dataDir, SYNAPSE_PATHS.mediaStore))));
  return r;
}

// ---- the tests ------------------------------------------------------------------------

export function readIfExists(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}

/** Waits until something accepts on 127.0.0.1:port, failing early if the server died. */
export async function waitForPort(port: number, died: () => boolean, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (died()) assert.fail(`nginx exited before listening:\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, "127.0.0.1");
      sock.on("connect", () => (sock.end(), resolve(true)));
      sock.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`nginx did not listen on 127.0.0.1:${port} within 10 s:\n${log()}`);
}
