/**
 * Handlebars for the text (non-YAML) files: nginx blocks, the Worker script,
 * host shell scripts. Runs with `noEscape` (these are not HTML) and `strict`
 * (a misspelt variable fails the render instead of printing nothing). Values go
 * through helpers that either encode them for the target language (`json`,
 * `sh`) or refuse anything outside a safe alphabet (`word`), so a setting can
 * never inject a directive or a command.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Handlebars from "handlebars";

const TEMPLATES = path.resolve(__dirname, "../../templates");

const hb = Handlebars.create();
hb.registerHelper("json", (v: unknown) => JSON.stringify(v));
hb.registerHelper("sh", (v: unknown) => shellQuote(String(v)));
hb.registerHelper("word", (v: unknown) => safeWord(String(v)));
hb.registerHelper("cron", (v: unknown) => cronSchedule(String(v)));
hb.registerHelper("nginxJson", (v: unknown) => nginxString(JSON.stringify(v)));
hb.registerPartial("wellKnown", fs.readFileSync(path.join(TEMPLATES, "nginx/well-known.partial.hbs"), "utf8"));
hb.registerPartial("healthyNow", fs.readFileSync(path.join(TEMPLATES, "host/healthy-now.partial.hbs"), "utf8"));

/** Single-quote a string for POSIX sh. */
export function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/** A value placed bare into nginx or shell text: letters, digits and . _ - / : only. */
export function safeWord(v: string): string {
  if (!/^[A-Za-z0-9._\/:-]+$/.test(v)) throw new Error(`unsafe value for a config file: ${JSON.stringify(v)}`);
  return v;
}

/** A five-field cron schedule of digits and * , - / only (a newline would add a crontab line). */
export function cronSchedule(v: string): string {
  if (!/^[0-9*,\/-]+( [0-9*,\/-]+){4}$/.test(v)) throw new Error(`unsafe cron schedule: ${JSON.stringify(v)}`);
  return v;
}

/** A single-quoted nginx string; `$` would start a variable, so it is refused. */
export function nginxString(v: string): string {
  if (v.includes("$")) throw new Error(`unsafe value for nginx: ${JSON.stringify(v)}`);
  return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

const cache = new Map<string, Handlebars.TemplateDelegate>();

/** Render templates/<name> with `data`. */
export function renderTemplate(name: string, data: object): string {
  let t = cache.get(name);
  if (!t) {
    t = hb.compile(fs.readFileSync(path.join(TEMPLATES, name), "utf8"), { noEscape: true, strict: true });
    cache.set(name, t);
  }
  return t(data);
}
