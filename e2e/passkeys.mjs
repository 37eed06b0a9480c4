// Passkeys in headless Chromium (Debian's), with the DevTools virtual
// authenticator standing in for a phone or a security key (CTAP2, resident
// keys, user verification). A person signs up, adds a passkey on the MFA
// page (which turns MFA on), then signs in with the password and the
// passkey as the second step, and with the passkey alone.
// Usage: node passkeys.mjs BASE_URL (http://localhost:PORT: WebAuthn needs a
// secure context and a domain name). With SCREENSHOT_DIR set, saves the pages.
import { accessible, check, launch, watchErrors } from "./checks.mjs";
import { mkdirSync } from "node:fs";

const base = process.argv[2];
if (!base) throw new Error("usage: node passkeys.mjs BASE_URL");
const shots = process.env.SCREENSHOT_DIR;
if (shots) mkdirSync(shots, { recursive: true });
const user = `pia${Date.now() % 100000}`;
const password = "quiet otter mends the lamp";
const problems = [];

async function logOut(page) {
  await page.goto(`${base}/dashboard`);
  await page.getByRole("button", { name: `Hello, ${user}` }).click();
  await page.getByRole("button", { name: "Logout" }).click();
  await page.waitForURL("**/login");
}

const browser = await launch(["--host-resolver-rules=MAP localhost 127.0.0.1"]);
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  watchErrors(page, problems);
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  // Sign up, then the MFA page offers a passkey beside the QR code.
  await page.goto(`${base}/signup`);
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Email").fill(`${user}@example.com`);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL("**/dashboard");
  await page.goto(`${base}/account/mfa`);
  const add = page.getByRole("button", { name: "Add a passkey or security key" });
  check(await add.isVisible(), "the set-up page offers a passkey (the script showed the form)");
  await page.getByLabel("Name of this passkey (optional)").fill("This laptop");
  await accessible(page, "set-up page with the passkey form");
  await add.click();
  await page.waitForURL("**/account/mfa/passkeys");
  const main = await page.locator("main").innerText();
  const active = main.includes("Multi-Factor Authentication is active");
  check(active, active ? "the first passkey turns MFA on" : `the first passkey turns MFA on: ${main}`);
  check((await page.locator(".recovery-code").count()) === 10, "and shows ten recovery codes");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, "the authenticator holds one discoverable passkey");

  await page.goto(`${base}/account/mfa`);
  check(await page.getByText("This laptop", { exact: true }).isVisible(), "the MFA page lists the passkey by its name");
  check((await page.locator("#recovery-ready").innerText()).includes("Recovery-ready"), "and says the account is recovery-ready (ten codes)");
  await accessible(page, "MFA page with a passkey");
  await page.locator("#passkeys").scrollIntoViewIfNeeded();
  if (shots) await page.locator("#passkeys").screenshot({ path: `${shots}/14-passkeys.png` });

  // Autofill: the sign-in page asks for a passkey quietly (conditional
  // mediation), and the virtual authenticator, like a person picking the
  // passkey among the usernames offered, answers it.
  await page.goto(`${base}/dashboard`);
  await page.getByRole("button", { name: `Hello, ${user}` }).click();
  const autofilled = page.waitForResponse((r) => r.url().endsWith("/login/passkey") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Logout" }).click();
  check((await autofilled).status() === 303, "on the sign-in page, picking the passkey from autofill posts it");
  await page.waitForURL("**/dashboard");
  check(await page.getByRole("button", { name: `Hello, ${user}` }).isVisible(), "and signs in");

  // From here on, a browser without autofill for passkeys: the buttons.
  await page.addInitScript(() => {
    if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });

  // The password, then the passkey as the second step.
  await logOut(page);
  await page.getByLabel("Username or email").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  const usePasskey = page.getByRole("button", { name: "Use a passkey or security key" });
  await usePasskey.waitFor();
  await accessible(page, "code step with the passkey button");
  if (shots) await page.screenshot({ path: `${shots}/15-passkey-second-step.png` });
  await usePasskey.click();
  await page.waitForURL("**/dashboard");
  check(true, "the passkey answers the code step");

  // The passkey alone.
  await logOut(page);
  const alone = page.getByRole("button", { name: "Sign in with a passkey" });
  check(await alone.isVisible(), "the sign-in page offers a passkey");
  check((await page.getByLabel("Username or email").getAttribute("autocomplete")) === "username webauthn", "the login field offers passkeys in autofill");
  await accessible(page, "sign-in page with the passkey button");
  if (shots) await page.screenshot({ path: `${shots}/16-sign-in-with-a-passkey.png` });
  await alone.click();
  await page.waitForURL("**/dashboard");
  check(await page.getByRole("button", { name: `Hello, ${user}` }).isVisible(), "the passkey alone signs in");

  check(problems.length === 0, `no console errors or page errors ${problems.join(" | ")}`);
  console.log("passkeys work end to end");
} finally {
  await browser.close();
}
