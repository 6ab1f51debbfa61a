/** The host scripts as real shell: files land with their owner and mode, and removal never climbs above the kit's directory. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { removeFileScript, writeFileScript } from "../../infra/render/host";

function sh(script: string, stdin = ""): number | null {
  return spawnSync("/bin/sh", ["-c", script], { input: stdin }).status;
}

test("write then remove a file with /bin/sh: owner, mode, atomic content, empty directories removed up to the root only", () => {
  const outer = fs.mkdtempSync(path.join(os.tmpdir(), "kit-host-"));
  const root = path.join(outer, "kit");
  const file = path.join(root, "synapse/appservices/qq.yaml");
  const uid = process.getuid?.() ?? 0;
  assert.equal(sh(writeFileScript(file, { uid, gid: uid, mode: "0600" }), "as_token: 'x y'\n"), 0);
  assert.equal(fs.readFileSync(file, "utf8"), "as_token: 'x y'\n");
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o755, "directories stay traversable for the container's user");
  fs.writeFileSync(path.join(root, "synapse/keep.txt"), "not the kit's");
  assert.equal(sh(removeFileScript(file, root)), 0);
  assert.equal(fs.existsSync(file), false);
  assert.equal(fs.existsSync(path.dirname(file)), false, "its emptied directory is gone");
  assert.equal(fs.existsSync(path.join(root, "synapse/keep.txt")), true, "a directory with other files stays");
  fs.rmSync(path.join(root, "synapse/keep.txt"));
  fs.writeFileSync(path.join(root, "synapse/other.yaml"), "x");
  assert.equal(sh(removeFileScript(path.join(root, "synapse/other.yaml"), root)), 0);
  assert.equal(fs.existsSync(root), false, "the kit's root goes once empty");
  assert.equal(fs.existsSync(outer), true, "nothing above the root is touched");
  assert.throws(() => removeFileScript("/etc/passwd", root), /not under/);
  fs.rmSync(outer, { recursive: true });
});

test("a path with shell metacharacters is refused before any script exists", () => {
  assert.throws(() => writeFileScript("/tmp/a dir/x';touch pwned;'.yaml", { uid: 0, gid: 0, mode: "0640" }), /unsafe value/);
  assert.throws(() => removeFileScript("/srv/kit/$(reboot).yaml", "/srv/kit"), /unsafe value/);
});
