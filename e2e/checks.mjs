// What every browser script checks the same way: a named assertion that
// prints `ok - …` (or throws), and axe-core's accessibility audit.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Throws `FAILED: what` unless `ok`; prints `ok - what` otherwise. */
export const check = (ok, what) => { if (!ok) throw new Error(`FAILED: ${what}`); console.log(`ok - ${what}`); };

/** axe-core, evaluated through the DevTools protocol (not a <script>, which the CSP rightly refuses). */
export async function accessible(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ["violations"] }));
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(serious.length === 0, `${label}: no serious or critical accessibility violations ${serious.map((v) => `[${v.id}: ${v.help}]`).join(" ")}`);
}
