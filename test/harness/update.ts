/**
 * MOCK-RUNTIME APPLY HARNESS, part three: a second `pulumi up` against the state an apply left,
 * for the changes the e2e makes (an image changed, then put back). As the engine and providers
 * do it, per resource in registration order, comparing the program's inputs with the state:
 *   - unchanged: kept (providers are configured again, so the docker connection is reopened);
 *   - docker Container with any changed input: replaced, delete before create (the bridge
 *     replaces a resource whose name the program sets that way, the name being taken);
 *   - docker RemoteImage with another name: the new image found on the host (keepLocally: the
 *     old one stays);
 *   - command Command with changed `triggers`: replaced, the new create run, then the old
 *     delete script; with only `create` (or stdin) changed: updated, the create run again (the
 *     kit sets no `update`);
 *   - an input that holds the id of a resource replaced in this update changes with it: the
 *     mock runtime's ids (`<name>-id`) never change, the engine's do;
 *   - cloudflare WorkersScript with another content (federation off publishes no m.server):
 *     updated in place as the provider does; here, as in apply, the new script is recorded for
 *     workerd to serve;
 *   - a resource new to the program: created as apply creates it, in registration order;
 *   - a resource gone from the program: deleted after every create and update, the last
 *     registered first (the engine deletes in reverse dependency order, at the end);
 *   - a failure stops the update, the failed resource keeping its previous state (the engine
 *     records a create that failed as not done).
 * Remaining differences: one resource at a time, no parallel branches; a changed input of any
 * other resource type fails the update before anything is changed (`unsupportedChanges`; the
 * e2e makes no such change); deletes follow registration order reversed rather than the
 * dependency graph; no `ignoreChanges`, aliases or protect.
 */
import type { ApplyOptions, Applied, StateEntry } from "./apply";
import { applyOne, changes } from "./apply";
import { deleteOne } from "./lifecycle";
import type { ProgramRun } from "./program";

/** The resource types whose changed inputs `update` carries out. */
const UPDATABLE = new Set(["docker:index/container:Container", "docker:index/remoteImage:RemoteImage", "command:remote:Command", "command:local:Command", "cloudflare:index/workersScript:WorkersScript"]);

/** What `update` cannot do for `program` over `state` (one line each); empty: it can apply it all. */
export function unsupportedChanges(state: Map<string, { inputs: Record<string, any> }>, program: ProgramRun): string[] {
  const out: string[] = [];
  for (const r of program.resources) {
    if (r.type.startsWith("kit:") || r.type.startsWith("pulumi:providers:")) continue;
    const before = state.get(r.name);
    if (!before) continue; // created
    const changed: string[] = [];
    changes(before.inputs, r.inputs, "", changed, r.secretPaths);
    if (changed.length > 0 && !UPDATABLE.has(r.type)) out.push(`cannot update ${r.type} ${r.name} (${changed.join("; ")})`);
  }
  return out;
}

/** Applies `program` over `applied` (whose state it updates in place); resolves with what it replaced or updated. */
export async function update(applied: Applied, program: ProgramRun, opts: ApplyOptions): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const done: string[] = [];
  const replaced = new Set<string>();
  const unsupported = unsupportedChanges(applied.state, program);
  if (unsupported.length > 0) throw new Error(`harness: ${unsupported.join("\n")}`);
  for (const r of program.resources) {
    if (r.type.startsWith("kit:")) continue;
    const before = applied.state.get(r.name);
    const entry: StateEntry = { type: r.type, name: r.name, inputs: r.inputs, dependencies: r.dependencies };
    if (r.type.startsWith("pulumi:providers:")) {
      await applyOne(r, entry, applied, opts, log);
      applied.state.set(r.name, entry);
      continue;
    }
    if (!before) {
      log(`update: ${r.name}: created`);
      await applyOne(r, entry, applied, opts, log);
      applied.state.set(r.name, entry);
      done.push(r.name);
      continue;
    }
    const changed: string[] = [];
    changes(before.inputs, r.inputs, "", changed);
    const text = JSON.stringify(r.inputs);
    for (const n of replaced) if (text.includes(`"${n}-id"`)) changed.push(`(the id of ${n}, replaced)`);
    if (changed.length === 0) {
      applied.state.set(r.name, { ...before, dependencies: r.dependencies });
      continue;
    }
    log(`update: ${r.name}: ${changed.join("; ")}`);
    switch (r.type) {
      case "docker:index/container:Container":
        await deleteOne(before, async () => applied.docker, applied.tmp);
        replaced.add(r.name);
        await applyOne(r, entry, applied, opts, log);
        break;
      case "docker:index/remoteImage:RemoteImage":
        await applyOne(r, entry, applied, opts, log);
        break;
      case "command:remote:Command":
      case "command:local:Command": {
        const replace = changed.some((c) => c.startsWith("triggers") || c.startsWith("(the id of"));
        await applyOne(r, entry, applied, opts, log);
        if (replace) {
          replaced.add(r.name);
          await deleteOne(before, async () => applied.docker, applied.tmp);
        }
        break;
      }
      case "cloudflare:index/workersScript:WorkersScript":
        applied.cloudflare = applied.cloudflare.filter((c) => c.name !== r.name);
        await applyOne(r, entry, applied, opts, log);
        break;
      default:
        throw new Error(`harness: cannot update ${r.type} ${r.name} (${changed.join("; ")})`);
    }
    applied.state.set(r.name, entry);
    done.push(r.name);
  }
  // What the program no longer has goes last, the last registered first.
  const kept = new Set(program.resources.map((r) => r.name));
  for (const [name, gone] of [...applied.state].reverse()) {
    if (kept.has(name) || gone.type.startsWith("kit:")) continue;
    log(`update: ${name}: deleted`);
    await deleteOne(gone, async () => applied.docker, applied.tmp);
    applied.state.delete(name);
    applied.cloudflare = applied.cloudflare.filter((c) => c.name !== name);
    done.push(`${name} (deleted)`);
  }
  return done;
}
