//! `/account/confirm`: "sudo mode". A change to how the account is proven
//! asks for the password again when the session last proved the account
//! more than [`latchkey_core::PROOF_LASTS`] ago; the page then sends the
//! browser back to where it was going (docs/SECURITY.md, row P2-SUDO-01).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::{ClientInfo, CoreError, Offered, RecentProof};
use serde::Deserialize;

use super::forms::{csrf_forms, UserForm};
use super::{menu, render, words};
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::AppState;

/// Where the page sends the browser when `rd` is missing or not ours.
const HOME: &str = "/dashboard";

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    menu: Option<super::Menu>,
    csrf_token: String,
    username: String,
    rd: String,
    error: Option<&'static str>,
}

/// `?rd=`: where to go once the password is confirmed.
#[derive(Deserialize)]
pub struct Back {
    #[serde(default)]
    rd: String,
}

/// The password, and where to go next. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    rd: String,
}

/// The session's recent proof of the account, or the redirect to this page
/// that asks for the password and then returns to `back`.
pub(super) async fn proof_or_confirm(
    app: &AppState,
    client: &ClientInfo,
    current: &CurrentUser,
    back: &str,
) -> Result<Result<RecentProof, Response>, WebError> {
    match app.services.accounts.prove(&current.session, &current.user, Offered::NOTHING, client).await {
        Ok(proof) => Ok(Ok(proof)),
        Err(CoreError::ReauthenticationRequired) => {
            // A safe return path needs no escaping in a query.
            let to = format!("/account/confirm?rd={}", safe_return(back));
            Ok(Err(Redirect::to(&to).into_response()))
        }
        Err(e) => Err(e.into()),
    }
}

/// A path of ours to return to: only account pages, written in plain
/// characters, so the page cannot be made to send anyone elsewhere.
fn safe_return(rd: &str) -> &str {
    let plain = rd.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b));
    if plain && rd.starts_with("/account/") && !rd.contains("//") {
        rd
    } else {
        HOME
    }
}

fn page(current: &CurrentUser, rd: &str, error: Option<&'static str>) -> Result<Response, WebError> {
    render(&ConfirmPage {
        menu: Some(menu(&current.user, current)),
        csrf_token: current.session.csrf_token.clone(),
        username: current.user.username.to_string(),
        rd: safe_return(rd).to_string(),
        error,
    })
}

/// "Confirm it is you": the password field.
pub async fn get_confirm(current: CurrentUser, Query(back): Query<Back>) -> Result<Response, WebError> {
    page(&current, &back.rd, None)
}

/// A right password renews the session's proof and goes back; a wrong one
/// shows the page again (and counts as a wrong password at sign-in does).
pub async fn post_confirm(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<ConfirmForm>,
) -> Result<Response, WebError> {
    let offered = Offered { password: Some(&form.password), code: None };
    match app.services.accounts.prove(&current.session, &current.user, offered, &client).await {
        Ok(_) => Ok(Redirect::to(safe_return(&form.rd)).into_response()),
        Err(CoreError::InvalidCredentials) => page(&current, &form.rd, Some(words::WRONG_PASSWORD)),
        Err(e) => Err(e.into()),
    }
}

csrf_forms!(ConfirmForm);

#[cfg(test)]
mod tests {
    use super::safe_return;

    #[test]
    fn only_account_paths_are_returned_to() {
        assert_eq!(safe_return("/account/mfa"), "/account/mfa");
        assert_eq!(safe_return("/account/mfa/authenticators/new"), "/account/mfa/authenticators/new");
        for foreign in [
            "",
            "https://evil.example/account/",
            "//evil.example/account/",
            "/account//evil.example",
            "/account/\\evil.example",
            "/account/mfa?x=1",
            "/account/%2F%2Fevil",
            "/dashboard/../account",
            "/login",
            "account/mfa",
        ] {
            assert_eq!(safe_return(foreign), "/dashboard", "{foreign}");
        }
    }
}
