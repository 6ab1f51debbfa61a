/** A shipped stack's settings, as the tests need them: secrets aside (example stacks cannot ship encrypted values). */
import { readStackFile, stackFilePath, validate } from "../../infra/config";
import type { Settings } from "../../infra/settings";

export function stackSettings(stack: string): Settings {
  const v = validate(stack, readStackFile(stackFilePath(stack)), { requireSecrets: false });
  if (!v.ok) throw new Error(`stack ${stack} is invalid:\n${v.errors.join("\n")}`);
  return v.settings;
}
