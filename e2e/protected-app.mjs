// A protected application, opened in headless Chromium (Debian's) through a
// real nginx in front of Latchkey: the browser is sent to sign in, types
// the password and the code, and lands on the application, which is told
// who signed in. Usage: node protected-app.mjs APP_URL USER PASSWORD SECRET SPENT_CODE
// Every *.example.test name leads to 127.0.0.1 (the proxy), as DNS would.
// With SCREENSHOT_DIR set, saves the sign-in page it shows and the new app token.
import { check, launch } from "./checks.mjs";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

const [appUrl, user, password, secret, spent] = process.argv.slice(2);
if (!spent) throw new Error("usage: node protected-app.mjs APP_URL USER PASSWORD SECRET SPENT_CODE");
const shots = process.env.SCREENSHOT_DIR;
if (shots) mkdirSync(shots, { recursive: true });

const totp = () => execFileSync("oathtool", ["--totp=sha1", "--base32", "--digits=6", secret]).toString().trim();

const browser = await launch(["--host-resolver-rules=MAP *.example.test 127.0.0.1"]);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(appUrl);
  await page.waitForURL("http://auth.example.test:*/login?rd=*");
  check(new URL(page.url()).searchParams.get("rd") === appUrl, "the application sends the browser to sign in, with the way back");
  check((await page.locator("#continue-to").innerText()).includes(new URL(appUrl).hostname), "the sign-in names the application");
  await page.getByLabel("Username or email").fill(user);
  await page.getByLabel("Password").fill(password);
  if (shots) await page.screenshot({ path: `${shots}/11-protected-app-sign-in.png` });
  await page.getByRole("button", { name: "Sign in" }).click();
  const codeField = page.getByLabel("Authentication code");
  await codeField.waitFor();
  let code = totp();
  while (code === spent) { await new Promise((r) => setTimeout(r, 1000)); code = totp(); }
  await codeField.fill(code);
  await page.getByRole("button", { name: "Verify and sign in" }).click();
  await page.waitForURL(appUrl, { timeout: 10000 }).catch(async (e) => {
    throw new Error(`${e.message}\nat ${page.url()}:\n${await page.locator("body").innerText()}`);
  });
  const seen = JSON.parse(await page.locator("body").innerText());
  check(seen.remote_user === user, `the application is told who signed in (${seen.remote_user})`);
  check(seen.remote_groups === "admins", "and the groups");
  await page.goto(appUrl.replace("wiki.", "admin."));
  check(JSON.parse(await page.locator("body").innerText()).remote_user === user, "one sign-in covers the other protected host");
  // An app token for a script that cannot sign in with a browser.
  await page.goto(`${new URL(page.url()).protocol}//auth.example.test:${new URL(appUrl).port}/account/security`);
  await page.getByLabel("Name").fill("Photo backup");
  await page.getByRole("button", { name: "Make an app token" }).click();
  const token = (await page.locator("#new-app-token").innerText()).trim();
  check(token.startsWith("lk_"), "the security page makes an app token and shows it once");
  await page.locator("#app-tokens").scrollIntoViewIfNeeded();
  if (shots) await page.locator("#app-tokens").screenshot({ path: `${shots}/12-app-token.png` });
  console.log("the protected application works end to end");
} finally {
  await browser.close();
}
