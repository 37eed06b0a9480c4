// Passkeys on the pages. WebAuthn has no way but a script, so this file is
// all there is of it; every passkey form starts hidden and is shown only
// where the browser has WebAuthn, and every other way to sign in works
// without it. A form marked data-passkey asks its data-options URL for the
// options (with its CSRF token), lets the browser make or use a passkey,
// puts the answer in its hidden `credential` field and posts itself as any
// form would: the server's answer is an ordinary page.
(() => {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  const decode = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  };
  const encode = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: decode(c.id) }));

  // The server's JSON options as the browser takes them (binary fields as bytes).
  const creationOptions = (o) => ({
    ...o,
    challenge: decode(o.challenge),
    user: { ...o.user, id: decode(o.user.id) },
    excludeCredentials: withIds(o.excludeCredentials),
  });
  const requestOptions = (o) => ({ ...o, challenge: decode(o.challenge), allowCredentials: withIds(o.allowCredentials) });

  // What PublicKeyCredential.toJSON() gives, for browsers without it.
  const asJSON = (credential) => {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = encode(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = encode(r.authenticatorData);
      response.signature = encode(r.signature);
      if (r.userHandle) response.userHandle = encode(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment,
    };
  };

  const say = (form, text) => {
    const line = form.querySelector(".passkey-error");
    if (!line) return;
    line.textContent = text;
    line.hidden = !text;
  };

  // Asks the server for the options; a session too old to add a passkey is
  // sent to confirm the password first (the answer names the page).
  const fetchOptions = async (form) => {
    const body = new URLSearchParams({ csrf_token: form.elements.csrf_token.value });
    const answer = await fetch(form.dataset.options, { method: "POST", body, credentials: "same-origin" });
    const json = await answer.json().catch(() => ({}));
    if (json.confirm_first) {
      location.assign(json.confirm_first);
      return null;
    }
    if (!answer.ok) throw new Error((json.error && json.error.message) || "The server could not start it.");
    return json;
  };

  const post = (form, options, credential) => {
    if (form.elements.challenge_id && options.challenge_id) form.elements.challenge_id.value = options.challenge_id;
    form.elements.credential.value = JSON.stringify(asJSON(credential));
    form.submit();
  };

  // Autofill on the login field (conditional mediation): the browser offers
  // the passkeys it holds for this site among the usernames. Its challenge
  // lives 5 minutes on the server, so a request left open is renewed every
  // 4; the button's own request aborts it, and it starts again after.
  let autofill = null;
  const RENEW_MS = 4 * 60 * 1000;
  const startAutofill = async (form) => {
    if (!PublicKeyCredential.isConditionalMediationAvailable) return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    const controller = new AbortController();
    autofill = controller;
    const renew = setTimeout(() => { controller.abort(); startAutofill(form); }, RENEW_MS);
    try {
      const options = await fetchOptions(form);
      if (!options || controller.signal.aborted) return;
      const credential = await navigator.credentials.get({
        publicKey: requestOptions(options.publicKey),
        mediation: "conditional",
        signal: controller.signal,
      });
      if (credential) post(form, options, credential);
    } catch {
      // Aborted (for the button, or to renew) or not offered: the form stays as it is.
    } finally {
      clearTimeout(renew);
    }
  };

  const run = async (form) => {
    const kind = form.dataset.passkey;
    say(form, "");
    if (autofill) autofill.abort();
    try {
      const options = await fetchOptions(form);
      if (!options) return;
      const credential =
        kind === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) })
          : await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
      if (credential) post(form, options, credential);
    } catch (error) {
      say(form, error && error.name === "NotAllowedError"
        ? "No passkey was used (it was cancelled or timed out). Try again, or use another way."
        : (error && error.message) || "That did not work. Try again, or use another way.");
      if (form.dataset.autofill === "yes") startAutofill(form);
    }
  };

  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    form.hidden = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run(form);
    });
    if (form.dataset.autofill === "yes") startAutofill(form);
  });
})();
