// The forgotten-password path in headless Chromium (Debian's), in two steps
// around the mail: `ask` opens the sign-in page, follows "Forgot your
// password?" and asks for a link; the test reads the link out of the mail
// its SMTP sink received; `use` opens that link in a fresh browser (another
// device), chooses a new password and signs in with it, where the code step
// still asks for the second factor.
// Usage: node forgotten-password.mjs BASE_URL ask EMAIL
//        node forgotten-password.mjs BASE_URL use LINK USERNAME
// With SCREENSHOT_DIR set, saves the pages.
import { accessible, check, launch, watchErrors } from "./checks.mjs";
import { mkdirSync } from "node:fs";

const [base, step, target, username] = process.argv.slice(2);
if (!base || !["ask", "use"].includes(step) || !target) {
  throw new Error("usage: node forgotten-password.mjs BASE_URL ask EMAIL | use LINK USERNAME");
}
const shots = process.env.SCREENSHOT_DIR;
if (shots) mkdirSync(shots, { recursive: true });
const newPassword = "seven herons fold the map";
const problems = [];

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  watchErrors(page, problems);

  if (step === "ask") {
    // A new account first: its address waits for the link sign-up mailed.
    const newcomer = `nia${Date.now() % 100000}`;
    await page.goto(`${base}/signup`);
    await page.getByLabel("Username").fill(newcomer);
    await page.getByLabel("Email").fill(`${newcomer}@example.com`);
    await page.getByLabel("Password").fill(newPassword);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL("**/dashboard");
    await page.getByRole("link", { name: "Not verified" }).click();
    await page.waitForURL("**/account/email");
    check(await page.getByRole("button", { name: "Send the link again" }).isVisible(), "an unverified address offers the link again");
    await accessible(page, "the email page");
    await shot(page, "19-account-email");
    await page.getByRole("button", { name: `Hello, ${newcomer}` }).click();
    await page.getByRole("button", { name: "Logout" }).click();
    await page.waitForURL("**/login");

    await page.goto(`${base}/login`);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.waitForURL("**/password/forgot");
    await accessible(page, "the forgot page");
    await page.getByLabel("Email").fill(target);
    await page.getByRole("button", { name: "Send me a link" }).click();
    check(await page.locator("#reset-sent").isVisible(), "the page says a link is on its way, whether or not the address is known");
    await accessible(page, "the sent page");
    await shot(page, "17-password-forgot");
    console.log("the link was asked for");
  } else {
    await page.goto(target);
    check(await page.getByLabel("New password").isVisible(), "the mailed link opens the new-password form on another device");
    await accessible(page, "the reset page");
    await page.getByLabel("New password").fill(newPassword);
    await shot(page, "18-password-reset");
    await page.getByRole("button", { name: "Set the new password" }).click();
    check(await page.locator("#reset-done").isVisible(), "the password is reset, and nobody is signed in");
    await page.getByRole("link", { name: "Sign in" }).click();
    await page.waitForURL("**/login");
    await page.getByLabel("Username or email").fill(username);
    await page.getByLabel("Password").fill(newPassword);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    check(await page.getByLabel("Authentication code").isVisible(), "the new password still leads to the code step");
    console.log("the forgotten password is replaced");
  }
  check(problems.length === 0, `no console or page errors ${problems.join("; ")}`);
} finally {
  await browser.close();
}
