//! Passkeys on the pages. The browser's part needs a script
//! (`static/passkeys.js`): it fetches the options from an `…/options` route
//! here (a form post carrying the CSRF token, answered in JSON), lets the
//! browser make or use a passkey, and posts the answer in an ordinary form,
//! whose answer is an ordinary page. Renaming and removing need no script.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use latchkey_core::passkeys::AddedPasskey;
use latchkey_core::{CoreError, Offered, PasskeyId, SignInFrom};
use serde::Deserialize;
use serde_json::json;

use super::confirm::proof_or_confirm;
use super::forms::{csrf_forms, CodeStep, CodeStepForm, GuestForm, UserForm};
use super::login::{after_sign_in, LoginPage};
use super::mfa::{codes_page, manage_page, setup_page, ManageMessages, MFA_PAGE};
use super::{cookies, words};
use crate::http::error::{ApiError, WebError};
use crate::http::extract::Client;
use crate::http::{return_to, AppState};

/// A form that carries nothing but its CSRF token (the options requests).
#[derive(Deserialize)]
pub struct TokenOnly {
    #[serde(default)]
    csrf_token: String,
}

/// A passkey's answer, as the script posts it.
#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    challenge_id: String,
    /// `PublicKeyCredential.toJSON()`, as JSON text.
    #[serde(default)]
    credential: String,
    /// The new passkey's name (adding only).
    #[serde(default)]
    name: String,
    #[serde(default)]
    rd: String,
}

/// A new name.
#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

/// Removing: a current code, unless the session proved the account lately.
#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
}

/// The options, or the error in the API's shape (the script shows its message).
fn options_answer<T: serde::Serialize>(result: Result<T, CoreError>) -> Response {
    match result {
        Ok(options) => Json(options).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The answer's JSON; text that is not JSON is an answer that does not verify.
fn credential_of(form: &AnswerForm) -> Result<serde_json::Value, CoreError> {
    serde_json::from_str(&form.credential).map_err(|_| CoreError::InvalidPasskey)
}

/// `POST /account/mfa/passkeys/options`: the creation options, or (a session
/// too old to add a factor) `{"confirm_first": URL}` for the password page.
pub async fn post_add_options(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, .. }: UserForm<TokenOnly>,
) -> Result<Response, WebError> {
    let proof = match proof_or_confirm(&app, &client, &current, MFA_PAGE).await? {
        Ok(proof) => proof,
        Err(_) => {
            let to = format!("/account/confirm?rd={MFA_PAGE}");
            return Ok((StatusCode::FORBIDDEN, Json(json!({"confirm_first": to}))).into_response());
        }
    };
    Ok(options_answer(app.services.passkeys.begin_registration(&current.user, &current.session.id, &proof).await))
}

/// `POST /account/mfa/passkeys`: adds the passkey the browser made; the
/// first factor of an account shows its recovery codes, as a first
/// authenticator does.
pub async fn post_add(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<AnswerForm>,
) -> Result<Response, WebError> {
    let added = match credential_of(&form) {
        Ok(credential) => {
            let passkeys = &app.services.passkeys;
            let (user, session) = (&current.user, &current.session.id);
            passkeys.finish_registration(user, session, &form.challenge_id, &form.name, &credential, &client).await
        }
        Err(e) => Err(e),
    };
    let messages = match added {
        Ok(AddedPasskey { recovery_codes: Some(codes), .. }) => {
            return codes_page(&app, &current, "Multi-Factor Authentication is active.", codes, None);
        }
        Ok(AddedPasskey { passkey, .. }) => {
            let notice = format!("Added “{}”: it now signs you in.", passkey.name);
            ManageMessages { notice: Some(notice), ..ManageMessages::default() }
        }
        Err(CoreError::InvalidPasskey) => {
            ManageMessages { passkey_error: Some(words::PASSKEY_REFUSED.into()), ..ManageMessages::default() }
        }
        Err(CoreError::Validation(fields)) => {
            ManageMessages { passkey_error: fields.into_values().next(), ..ManageMessages::default() }
        }
        Err(CoreError::Refused(why)) => {
            ManageMessages { passkey_error: Some(words::refusal(why).into()), ..ManageMessages::default() }
        }
        Err(e) => return Err(e.into()),
    };
    // Nothing was added to an account with MFA off: the set-up page again, saying why.
    if !current.user.mfa_enabled && messages.notice.is_none() {
        return setup_page(&app, &client, &current, messages.passkey_error, None).await;
    }
    manage_page(&app, &current, messages).await
}

/// Renames a passkey.
pub async fn post_rename(
    State(app): State<AppState>,
    Path(id): Path<String>,
    UserForm { current, form }: UserForm<RenameForm>,
) -> Result<Response, WebError> {
    let messages = match app.services.passkeys.rename(current.user.id, &PasskeyId::from(id), &form.name).await {
        Ok(()) => ManageMessages { notice: Some("The passkey was renamed.".into()), ..ManageMessages::default() },
        Err(CoreError::Validation(fields)) => {
            ManageMessages { passkey_error: fields.into_values().next(), ..ManageMessages::default() }
        }
        Err(CoreError::NotFound) => {
            ManageMessages { passkey_error: Some("That passkey is gone.".into()), ..ManageMessages::default() }
        }
        Err(e) => return Err(e.into()),
    };
    manage_page(&app, &current, messages).await
}

/// Removes a passkey: with a current code, or a session that proved the
/// account within 5 minutes (else the password is asked for first).
pub async fn post_remove(
    State(app): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
    UserForm { current, form }: UserForm<RemoveForm>,
) -> Result<Response, WebError> {
    let proof = if form.code.trim().is_empty() {
        match proof_or_confirm(&app, &client, &current, MFA_PAGE).await? {
            Ok(proof) => Ok(proof),
            Err(confirm_first) => return Ok(confirm_first),
        }
    } else {
        let offered = Offered { password: None, code: Some(&form.code) };
        app.services.accounts.prove(&current.session, &current.user, offered, &client).await
    };
    let removed = match proof {
        Ok(proof) => app.services.passkeys.remove(&current.user, &PasskeyId::from(id), &proof, &client).await,
        Err(e) => Err(e),
    };
    let messages = match removed {
        Ok(()) => ManageMessages { notice: Some("The passkey was removed.".into()), ..ManageMessages::default() },
        Err(CoreError::InvalidCode) => {
            ManageMessages { passkey_error: Some(words::WRONG_CODE.into()), ..ManageMessages::default() }
        }
        Err(CoreError::Refused(why)) => {
            ManageMessages { passkey_error: Some(words::refusal(why).into()), ..ManageMessages::default() }
        }
        Err(CoreError::NotFound) => {
            ManageMessages { passkey_error: Some("That passkey is already gone.".into()), ..ManageMessages::default() }
        }
        Err(e) => return Err(e.into()),
    };
    manage_page(&app, &current, messages).await
}

/// `POST /login/passkey/options`: the request options of a sign-in with a
/// passkey alone (any discoverable passkey may answer).
pub async fn post_sign_in_options(
    State(app): State<AppState>,
    Client(client): Client,
    GuestForm { .. }: GuestForm<TokenOnly>,
) -> Result<Response, WebError> {
    Ok(options_answer(app.services.passkeys.begin_sign_in(&client).await))
}

/// `POST /login/passkey`: signs in with the passkey's answer, then on to
/// `rd` or the dashboard; a refusal shows the sign-in page with a word why.
pub async fn post_sign_in(
    State(app): State<AppState>,
    Client(client): Client,
    GuestForm { jar, csrf_token, form }: GuestForm<AnswerForm>,
) -> Result<Response, WebError> {
    let rd = return_to::checked(&form.rd, &app.web);
    let previous = cookies::session_token(&jar, &app.web);
    let from = SignInFrom { replaces: previous.as_deref(), ..SignInFrom::client(&client) };
    let signed_in = match credential_of(&form) {
        Ok(credential) => app.services.passkeys.finish_sign_in(&form.challenge_id, &credential, &from).await,
        Err(e) => Err(e),
    };
    let error = match signed_in {
        Ok(signed_in) => {
            return Ok((cookies::signed_in(jar, signed_in, &app.web), after_sign_in(rd.as_deref())).into_response());
        }
        Err(CoreError::InvalidPasskey) => words::PASSKEY_REFUSED,
        Err(CoreError::AccountLocked) => words::ACCOUNT_LOCKED,
        Err(CoreError::EmailUnverified) => words::EMAIL_UNVERIFIED,
        Err(e) => return Err(e.into()),
    };
    let page = LoginPage::new(&app, csrf_token, String::new(), Some(error), rd);
    Ok((StatusCode::UNAUTHORIZED, super::render(&page)?).into_response())
}

/// `POST /login/mfa/passkey/options`: the request options for the passkeys
/// of the account whose sign-in is pending.
pub async fn post_second_step_options(
    State(app): State<AppState>,
    Client(client): Client,
    CodeStepForm { step, .. }: CodeStepForm<TokenOnly>,
) -> Result<Response, WebError> {
    let CodeStep::Live { token, .. } = step else {
        return Ok(ApiError::SignInOver.into_response());
    };
    let options = app.services.passkeys.begin_second_factor(&token, &client).await;
    Ok(options_answer(options.map(|public_key| json!({"publicKey": public_key}))))
}

csrf_forms!(TokenOnly, AnswerForm, RenameForm, RemoveForm);
