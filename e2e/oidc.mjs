// OpenID Connect with a relying-party library no one here wrote: openid-client
// (npm) discovers the provider, builds the authorization URL (PKCE S256, state,
// nonce), headless Chromium (Debian's) signs up, meets the consent page and
// allows, and the library exchanges the code, checks the ID token (signature
// against the JWKS, iss, aud, nonce), reads userinfo and refreshes, asks
// whether the access token is live (introspection), revokes the refresh
// token, and signs the user out (RP-initiated logout with id_token_hint).
// Usage: node oidc.mjs BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI POST_LOGOUT_URI
// With SCREENSHOT_DIR set, saves the consent page and "Connected apps".
import { accessible, check, launch, watchErrors } from "./checks.mjs";
import * as client from "openid-client";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";

const [base, clientId, clientSecret, redirectUri, signedOutUri] = process.argv.slice(2);
if (!signedOutUri) throw new Error("usage: node oidc.mjs BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI POST_LOGOUT_URI");
const shots = process.env.SCREENSHOT_DIR;
if (shots) mkdirSync(shots, { recursive: true });
const user = `olga${Date.now() % 100000}`;
const password = "quiet otter mends the lamp";
const problems = [];

const config = await client.discovery(new URL(base), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorizationUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: "openid profile email groups offline_access",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  state,
  nonce,
});

// The application's own origin: a small server of this script, so the
// provider's redirects (after consent, after logout) reach a real page.
let callback = null;
const appOrigin = new URL(redirectUri).origin;
const callbackPath = new URL(redirectUri).pathname;
const app = createServer((request, response) => {
  // Only the redirects count, not what the browser asks besides (a favicon).
  if (request.url.startsWith(callbackPath)) callback = `${appOrigin}${request.url}`;
  response.writeHead(200, { "content-type": "text/html" });
  response.end("<!doctype html><html lang=en><title>The app</title><p>The app</html>");
});
await new Promise((resolve) => app.listen(Number(new URL(redirectUri).port), "127.0.0.1", resolve));

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  watchErrors(page, problems);
  // The application sends the browser to the provider; nobody is signed in.
  await page.goto(authorizationUrl.href);
  await page.waitForURL("**/login?rd=*");
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.waitForURL("**/signup");
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Email").fill(`${user}@example.com`);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL("**/dashboard");
  // Back at the application's request, now signed in: the consent page.
  await page.goto(authorizationUrl.href);
  check(await page.getByRole("button", { name: "Allow" }).isVisible(), "the first sign-in to the client asks for consent");
  await accessible(page, "the consent page");
  if (shots) await page.screenshot({ path: `${shots}/20-oidc-consent.png`, fullPage: true });
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL(`${redirectUri}**`);
  check(callback !== null && callback.startsWith(redirectUri), "the browser arrives back at the client (form-action lets it)");

  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  check(claims.preferred_username === user && claims.email === `${user}@example.com`, "the ID token names the user, signature and claims checked by openid-client");
  check(Array.isArray(claims.amr) && claims.amr.includes("pwd"), "amr says a password was used");
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  check(info.sub === claims.sub && info.email === `${user}@example.com`, "userinfo answers for the access token");
  check(typeof tokens.refresh_token === "string", "offline_access gives a refresh token");
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  check(refreshed.refresh_token !== tokens.refresh_token && refreshed.claims().sub === claims.sub, "a refresh rotates the refresh token and keeps the subject");

  await page.goto(`${base}/account/security`);
  check(await page.locator("#connected-apps").getByRole("button", { name: "Disconnect" }).isVisible(), "Connected apps lists the client");
  await accessible(page, "the security page with a connected app");
  if (shots) await page.locator("#connected-apps").screenshot({ path: `${shots}/21-connected-apps.png` });

  // Introspection and revocation (RFC 7662, RFC 7009), as the library speaks them.
  const live = await client.tokenIntrospection(config, refreshed.access_token);
  check(live.active === true && live.sub === claims.sub && live.client_id === clientId, "introspection says the access token is live and whose");
  await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: "refresh_token" });
  const dead = await client.tokenIntrospection(config, refreshed.access_token);
  check(dead.active === false, "revoking the refresh token ends its grant's access tokens");
  const reuse = await client.refreshTokenGrant(config, refreshed.refresh_token).then(() => "accepted", (e) => e.error);
  check(reuse === "invalid_grant", `a revoked refresh token is refused (${reuse})`);

  // A logout link without the ID token could come from any site: asked first.
  const bare = `${base}/oauth2/logout?client_id=${clientId}&post_logout_redirect_uri=${encodeURIComponent(signedOutUri)}`;
  await page.goto(bare);
  check(await page.getByRole("button", { name: "Sign out" }).isVisible(), "a logout that does not name the user asks first");
  await accessible(page, "the logout question");
  if (shots) await page.screenshot({ path: `${shots}/22-oidc-logout.png`, fullPage: true });
  await page.getByRole("button", { name: "Stay signed in" }).click();
  await page.waitForURL("**/dashboard");

  // The application signs the user out of the provider and gets them back.
  const logoutState = client.randomState();
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: refreshed.id_token,
    post_logout_redirect_uri: signedOutUri,
    state: logoutState,
  });
  // From the application's page, as its "Sign out" link would.
  await page.goto(`${appOrigin}/`);
  await Promise.all([page.waitForURL(`${signedOutUri}**`), page.evaluate((to) => { location.href = to; }, endSession.href)]);
  check(new URL(page.url()).searchParams.get("state") === logoutState, "logout returns to the client with its state");
  await page.goto(`${base}/dashboard`);
  check(new URL(page.url()).pathname === "/login", "the provider's session is over");
  check(problems.length === 0, `no console or page errors ${problems.join("; ")}`);
  console.log("openid-client signs in end to end");
} finally {
  await browser.close();
  app.close();
}
