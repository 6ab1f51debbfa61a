/**
 * Loads the program the way Pulumi's Node.js language runtime does on `pulumi up`,
 * under the MOCK runtime (no engine here). Plain JavaScript on purpose: nothing
 * (no tsx) may compile the program but the runtime's own ts-node registration.
 *
 * It calls the real `run()` of @pulumi/pulumi's `cmd/run` (the code the language
 * host starts), which registers ts-node with the type check on, from the working
 * directory the language host uses for `main: infra/index.ts` (the program's
 * directory, infra/, where it looks for tsconfig.json), then requires the program
 * inside the root Stack resource.
 *
 * Usage: node pulumi-runtime-load.js <stack> <config-json> <secret-keys-json>
 * Exit 0 and prints "LOADED <n> resources" on success; exit 1 with the error otherwise.
 * Differences from `pulumi up`: the resource monitor is Pulumi's mock monitor; config
 * comes from setAllConfig instead of the PULUMI_CONFIG environment variable; cmd/run/index.js
 * (argument parsing, engine connection) is not loaded: run() is called with the arguments
 * the language host passes for this project.
 */
"use strict";
const path = require("node:path");

async function main() {
  const [stack, configJson, secretKeysJson] = process.argv.slice(2);
  const root = path.resolve(__dirname, "../..");
  // The program's directory; a test may point it at a fixture (PROGRAM_DIR) to prove type errors fail.
  const programDir = process.env.PROGRAM_DIR ? path.resolve(process.env.PROGRAM_DIR) : path.join(root, "infra");
  // What the Go language host sets for a TypeScript project (Pulumi.yaml runtime.options.typescript).
  process.env.PULUMI_NODEJS_TYPESCRIPT = "true";
  delete process.env.PULUMI_NODEJS_TRANSPILE_ONLY;
  delete process.env.PULUMI_NODEJS_TSCONFIG_PATH;
  const pulumi = require(require.resolve("@pulumi/pulumi", { paths: [root] }));
  let count = 0;
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        count++;
        // MOCK outputs where a provider computes what the program reads back (test/harness/computed.ts makes real ones).
        const computed = {
          "tls:index/privateKey:PrivateKey": { privateKeyPem: "MOCK private key" },
          "tls:index/certRequest:CertRequest": { certRequestPem: "MOCK certificate request" },
          "cloudflare:index/originCaCertificate:OriginCaCertificate": { certificate: "MOCK certificate", expiresOn: "2027-12-06T00:00:00Z" },
        }[args.type];
        return { id: `${args.name}-id`, state: { ...args.inputs, ...computed } };
      },
      call(args) {
        // MOCK answer of each check (infra/preflight.ts): all is well, so the check prints its own ok
        // line (HOST_KEY_OK of render/ssh.ts, REPOSITORY_OK of render/backup.ts), which its script holds.
        if (args.token !== "command:local:run") return args.inputs;
        const ok = ["matrix-kit: host key ok", "matrix-kit: backup repository ok"].find((line) => String(args.inputs.command).includes(line));
        return { ...args.inputs, stdout: ok || "no MOCK answer for this check", stderr: "" };
      },
    },
    "matrix-kit",
    stack,
    false,
  );
  pulumi.runtime.setAllConfig(JSON.parse(configJson), JSON.parse(secretKeysJson));
  // cmd/run/index.js is the language host's entry: loading it parses process.argv and
  // connects to the engine. run.js takes only an exit code constant from it, so that
  // module is stood in for by the constant (its value in index.js) before run.js loads.
  const runJs = require.resolve("@pulumi/pulumi/cmd/run/run", { paths: [root] });
  const indexJs = path.join(path.dirname(runJs), "index.js");
  const Module = require("node:module");
  const stub = new Module(indexJs);
  stub.filename = indexJs;
  stub.loaded = true;
  stub.exports = { nodeJSProcessExitedAfterLoggingUserActionableMessage: 32 };
  require.cache[indexJs] = stub;
  const { run } = require(runJs);
  const errors = [];
  // run() installs the runtime's own handlers for uncaught errors, which log and report them here.
  const argv = { _: ["index.ts"], pwd: programDir };
  await run(argv, () => {}, (err) => errors.push(err), (err) => errors.includes(err));
  // Registrations (and any failure inside them) finish asynchronously.
  await new Promise((r) => setTimeout(r, 1000));
  if (errors.length > 0) throw errors[0];
  console.log(`LOADED ${count} resources`);
}

setTimeout(() => {
  console.error("FAILED: the program did not finish loading within 120 s");
  process.exit(1);
}, 120_000).unref();
main().then(
  () => process.exit(0),
  (err) => {
    console.error(`FAILED ${err && err.name}: ${err && err.message}`, process.env.KIT_DEBUG ? err.stack : "");
    process.exit(1);
  },
);
