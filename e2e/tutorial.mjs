// The tutorial as a person follows it, in headless Chromium (Debian's
// /usr/bin/chromium). Usage: node tutorial.mjs BASE_URL
// With SCREENSHOT_DIR set, saves a PNG of each step there (the README's tour).
// Codes come from oathtool, an implementation nobody here wrote; the QR code
// is read from the screenshot's pixels, as a phone camera would.
import { accessible, check, launch, watchErrors } from "./checks.mjs";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

const base = process.argv[2];
if (!base) throw new Error("usage: node tutorial.mjs BASE_URL");
const origin = new URL(base).origin;
const shots = process.env.SCREENSHOT_DIR;
if (shots) mkdirSync(shots, { recursive: true });
const user = `alice${Date.now() % 100000}`;
const password = "quiet otter mends the lamp";

const problems = [];
const totp = (secret) => execFileSync("oathtool", ["--totp=sha1", "--base32", "--digits=6", secret]).toString().trim();

const browser = await launch();

/** A page that records console errors, page errors and any request leaving the origin. */
async function watchedPage(context) {
  const page = await context.newPage();
  watchErrors(page, problems);
  page.on("request", (r) => { if (!r.url().startsWith("data:") && new URL(r.url()).origin !== origin) problems.push(`request left the origin: ${r.url()}`); });
  return page;
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

/** WCAG 1.4.11: the boundary of every visible control, 3:1 against what it sits on (axe does not check it). */
async function controlBoundaries(page, label) {
  const worst = await page.evaluate(() => {
    const rgb = (s) => (s.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => {
      const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const behind = (el) => {
      for (let e = el.parentElement; e; e = e.parentElement) {
        const c = getComputedStyle(e).backgroundColor;
        if (c !== "transparent" && !c.startsWith("rgba(0, 0, 0, 0)")) return rgb(c);
      }
      return [255, 255, 255];
    };
    let worst = { ratio: 99, what: "no control" };
    const controls = 'input:not([type=hidden]):not([type=checkbox]), select, .user-menu-trigger, .button:not(.button-primary):not(.button-danger)';
    for (const el of document.querySelectorAll(controls)) {
      if (el.offsetParent === null) continue;
      const r = ratio(rgb(getComputedStyle(el).borderTopColor), behind(el));
      if (r < worst.ratio) worst = { ratio: r, what: el.outerHTML.slice(0, 80) };
    }
    return worst;
  });
  check(worst.ratio >= 3, `${label}: every control's boundary at least 3:1 (lowest ${worst.ratio.toFixed(2)}: ${worst.what})`);
}

async function noSidewaysScroll(page, label) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  check(scroll <= width, `${label}: no sideways scrolling at ${width} px (content ${scroll} px)`);
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await watchedPage(context);

  // 1. Sign up.
  await page.goto(`${base}/signup`);
  await accessible(page, "sign-up page");
  await controlBoundaries(page, "sign-up page");
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Email").fill(`${user}@example.com`);
  await page.getByLabel("Password").fill(password);
  await shot(page, "1-sign-up");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL("**/dashboard");
  check(await page.getByRole("button", { name: `Hello, ${user}` }).isVisible(), "the dashboard greets the new user");
  await accessible(page, "dashboard");

  // 2. The "Hello, USERNAME" menu opens on hover.
  await page.getByRole("button", { name: `Hello, ${user}` }).hover();
  const mfaLink = page.getByRole("link", { name: "Multi-Factor Authentication", exact: true });
  check(await mfaLink.isVisible(), "hovering the menu shows Multi-Factor Authentication");
  await shot(page, "2-menu");
  await mfaLink.click();
  await page.waitForURL("**/account/mfa");

  // 3. Scan the QR code from the pixels on screen.
  await accessible(page, "MFA set-up page");
  const secret = (await page.locator("#mfa-secret").innerText()).replace(/\s/g, "");
  const png = PNG.sync.read(await page.locator("#mfa-qr").screenshot());
  const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  const expected = `otpauth://totp/Latchkey:${user}?secret=${secret}&issuer=Latchkey&algorithm=SHA1&digits=6&period=30`;
  check(decoded?.data === expected, "the QR code on screen decodes to the otpauth URI of the key shown beside it");
  check(await page.getByRole("button", { name: "Copy" }).isVisible(), "a copy button stands beside the key");
  await shot(page, "3-scan-the-qr-code");

  // 4. A wrong code says so in place.
  await page.getByLabel("Authentication code").fill("000000");
  await page.getByRole("button", { name: "Confirm Multi-Factor Authorization" }).click();
  check(await page.locator("#code-error").isVisible(), "a wrong code shows an error by the field");
  check((await page.getByLabel("Authentication code").getAttribute("aria-invalid")) === "true", "the field is marked invalid for screen readers");
  check((await page.locator("#mfa-secret").innerText()).replace(/\s/g, "") === secret, "the enrolment is kept");
  await accessible(page, "MFA page with an error");
  await shot(page, "4-wrong-code");

  // 5. The right code turns MFA on and shows the recovery codes.
  const enrolCode = totp(secret);
  await page.getByLabel("Authentication code").fill(enrolCode);
  await page.getByRole("button", { name: "Confirm Multi-Factor Authorization" }).click();
  await page.getByText("Multi-Factor Authentication is active").waitFor();
  check((await page.locator(".recovery-code").count()) === 10, "ten recovery codes are listed");
  const recoveryCode = (await page.locator(".recovery-code").first().innerText()).trim();
  await accessible(page, "recovery codes page");
  await shot(page, "5-recovery-codes");

  // 6. Log out from the menu (opened by a click this time).
  await page.goto(`${base}/dashboard`);
  await page.getByRole("button", { name: `Hello, ${user}` }).click();
  await page.getByRole("button", { name: "Logout" }).click();
  await page.waitForURL("**/login");

  // 7. Sign in: the password step now asks for the code.
  await accessible(page, "sign-in page");
  await page.getByLabel("Username or email").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  const codeField = page.getByLabel("Authentication code");
  await codeField.waitFor();
  check((await codeField.getAttribute("inputmode")) === "numeric", "the code field asks for the numeric keyboard");
  check((await codeField.getAttribute("autocomplete")) === "one-time-code", "the code field is a one-time-code field");
  await accessible(page, "code step");
  await shot(page, "6-code-step");

  // 8. A fresh code (the one used to confirm is spent), pasted as "123 456".
  let code = totp(secret);
  while (code === enrolCode) { await new Promise((r) => setTimeout(r, 1000)); code = totp(secret); }
  await codeField.fill(`${code.slice(0, 3)} ${code.slice(3)}`);
  await page.getByRole("button", { name: "Verify and sign in" }).click();
  await page.waitForURL("**/dashboard");
  check(await page.getByText("Signing in asks for a code").isVisible(), "signed in, and the dashboard says MFA is on");
  await shot(page, "7-signed-in");

  // 9. The menu works by keyboard alone.
  await page.goto(`${base}/dashboard`);
  let focused = "";
  for (let i = 0; i < 10 && !focused.includes("user-menu-trigger"); i++) {
    await page.keyboard.press("Tab");
    focused = await page.evaluate(() => document.activeElement?.className ?? "");
  }
  check(focused.includes("user-menu-trigger"), "Tab reaches the Hello menu");
  await page.mouse.move(0, 700);
  const mfaItem = page.getByRole("link", { name: "Multi-Factor Authentication", exact: true });
  check(!(await mfaItem.isVisible()), "focus alone does not open the menu (a disclosure button)");
  await page.keyboard.press("Enter");
  const hello = page.getByRole("button", { name: `Hello, ${user}` });
  check((await mfaItem.isVisible()) && (await hello.getAttribute("aria-expanded")) === "true", "Enter opens the menu, and aria-expanded says so");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.waitForURL("**/account/mfa");
  check(true, "Tab and Enter follow the menu's link");

  // 10. A second authenticator: scan, name it, prove it is you (a recovery code here).
  await page.getByRole("link", { name: "Add another authenticator" }).click();
  await page.waitForURL("**/account/mfa/authenticators/new");
  await accessible(page, "add-an-authenticator page");
  const second = (await page.locator("#mfa-secret").innerText()).replace(/\s/g, "");
  check(second !== secret, "the new authenticator gets its own key");
  await page.getByLabel("Name", { exact: true }).fill("Pixel");
  await page.getByLabel("Code from the new authenticator").fill(totp(second));
  await page.getByLabel("Code from an authenticator you already have").fill(recoveryCode);
  await shot(page, "9-add-an-authenticator");
  await page.getByRole("button", { name: "Add authenticator" }).click();
  await page.getByText("Added “Pixel”").waitFor();
  check(await page.getByRole("button", { name: "Remove “Pixel”" }).isVisible(), "the new authenticator is listed, removable");
  await accessible(page, "MFA page with two authenticators");
  await shot(page, "10-authenticators");

  // 11. Phone width: nothing scrolls sideways; the dark theme follows the system.
  const phone = await watchedPage(await browser.newContext({ viewport: { width: 375, height: 800 }, colorScheme: "dark" }));
  await phone.goto(`${base}/signup`);
  await phone.getByLabel("Username").fill(`${user}-phone`);
  await phone.getByLabel("Email").fill(`${user}-phone@example.com`);
  await phone.getByLabel("Password").fill(password);
  await phone.getByRole("button", { name: "Create account" }).click();
  await phone.waitForURL("**/dashboard");
  for (const path of ["/dashboard", "/account/mfa", "/account/security"]) {
    await phone.goto(`${base}${path}`);
    await noSidewaysScroll(phone, path);
    await accessible(phone, `${path} in the dark theme`);
    await controlBoundaries(phone, `${path} in the dark theme`);
    if (path === "/account/security") await shot(phone, "13-phone-security");
  }
  // The menu is a disclosure button: a tap opens it and says so, Escape closes it.
  const trigger = phone.getByRole("button", { name: `Hello, ${user}-phone` });
  const security = phone.getByRole("link", { name: "Security", exact: true });
  const shown = async (open) => (await trigger.getAttribute("aria-expanded")) === String(open) && (await security.isVisible()) === open;
  await trigger.click();
  check(await shown(true), "a tap opens the menu, and aria-expanded says so");
  await phone.keyboard.press("Escape");
  check(await shown(false), "Escape closes the menu");
  await phone.mouse.move(10, 700);
  check(await shown(false), "and it stays closed when the pointer leaves");
  await trigger.click();
  await trigger.click();
  await phone.mouse.move(10, 700);
  check(await shown(false), "a second tap closes it, and it stays closed");
  await trigger.click();
  await security.focus();
  await phone.keyboard.press("Escape");
  check((await shown(false)) && (await phone.evaluate(() => document.activeElement?.className ?? "")).includes("user-menu-trigger"), "Escape from an item closes the menu and returns to the button");
  await trigger.click();
  await phone.mouse.click(10, 700);
  check(await shown(false), "a tap elsewhere closes the menu");
  await trigger.click();
  await phone.getByRole("button", { name: "Logout" }).click();
  await phone.waitForURL("**/login");
  await noSidewaysScroll(phone, "sign-in page");
  await phone.getByLabel("Username or email").fill(user);
  await phone.getByLabel("Password").fill(password);
  await phone.getByRole("button", { name: "Sign in" }).click();
  await phone.getByLabel("Authentication code").waitFor();
  await noSidewaysScroll(phone, "code step");
  const background = await phone.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(background !== "rgb(246, 247, 251)", `the dark theme follows the system setting (${background})`);
  await shot(phone, "8-phone-dark");

  // 12. A same-origin post under Referrer-Policy: no-referrer carries Origin: null;
  // Sec-Fetch-Site decides, and it is let through.
  const strict = await watchedPage(await browser.newContext());
  await strict.route(`${base}/login`, async (route) => {
    if (route.request().method() !== "GET") return route.continue();
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), "referrer-policy": "no-referrer" } });
  });
  let sent = null;
  strict.on("request", (r) => { if (r.method() === "POST") sent = r.headers(); });
  await strict.goto(`${base}/login`);
  await strict.getByLabel("Username or email").fill(user);
  await strict.getByLabel("Password").fill(password);
  const [answer] = await Promise.all([
    strict.waitForResponse((r) => r.request().method() === "POST"),
    strict.getByRole("button", { name: "Sign in" }).click(),
  ]);
  const sentOrigin = (await answer.request().allHeaders()).origin;
  check(sentOrigin === "null", `the browser sent Origin: ${sentOrigin}`);
  check(answer.status() === 200 && (await strict.getByLabel("Authentication code").isVisible()), "the post was accepted by Sec-Fetch-Site");
  check(sent !== null, "the post was observed");

  check(problems.length === 0, `no console errors, page errors or requests off the origin ${problems.join("; ")}`);
  console.log("the tutorial works end to end");
} finally {
  await browser.close();
}
