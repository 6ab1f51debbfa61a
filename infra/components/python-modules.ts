/**
 * The Python a container of the kit runs from a folder of templates/: its main script and every
 * module beside it, each placed as a host file of its own, named by its id.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** The Matrix helpers the watchdog and the upkeep job share. */
export const KIT_MATRIX_PY = path.resolve(__dirname, "../../templates/python/kit_matrix.py");

export interface PythonModule {
  /** "script" for the main one; the others by name ("probe_room.py": "probe-room"). */
  id: string;
  fileName: string;
  content: string;
}

export function pythonModules(dir: string, main: string): PythonModule[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".py"))
    .sort()
    .map((f) => ({ id: f === main ? "script" : f.replace(/\.py$/, "").replace(/_/g, "-"), fileName: f, content: fs.readFileSync(path.join(dir, f), "utf8") }));
}
