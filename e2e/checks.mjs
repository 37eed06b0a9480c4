// What every browser script does the same way: start Debian's headless
// Chromium, collect console and page errors, a named assertion that prints
// `ok - …` (or throws), and axe-core's accessibility audit.
import { chromium } from "playwright-core";
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

/** Headless Chromium (Debian's, or $CHROMIUM), with `extraArgs` (host mapping rules). */
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}

/** Collects the page's console errors and uncaught errors into `problems`. */
export function watchErrors(page, problems) {
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error on ${page.url()}: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
}
