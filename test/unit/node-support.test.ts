/**
 * The Node.js versions the kit says it supports are the ones its Pulumi SDK declares: the
 * README's prerequisite, package.json's engines and @pulumi/pulumi's engines agree.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";

const read = (f: string) => JSON.parse(fs.readFileSync(f, "utf8"));

test("package.json and the README state the Node.js range @pulumi/pulumi declares", () => {
  const sdk = read("node_modules/@pulumi/pulumi/package.json").engines.node as string;
  assert.match(sdk, /^>=\d+$/, `a plain lower bound, got ${sdk}`);
  assert.equal(read("package.json").engines.node, sdk);
  const major = sdk.slice(2);
  const readme = fs.readFileSync("README.md", "utf8");
  assert.ok(readme.includes(`- On your machine: Node.js ${major} or newer (what \`@pulumi/pulumi\``), "README's prerequisite names the same version");
  const pinned = read("package.json").dependencies["@pulumi/pulumi"];
  assert.ok(readme.includes(`\`@pulumi/pulumi\` ${pinned.split(".").slice(0, 2).join(".")} declares`), "and the SDK version it comes from");
});
