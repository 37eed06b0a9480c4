//! `/oauth2/logout`: RP-Initiated Logout 1.0 (contract section 9). A client
//! that names the session by an ID token of its sign-in (`id_token_hint`)
//! ends it at once; any other request (no hint, or a hint of another
//! sign-in or someone else) is asked about first, with a form and the session's CSRF
//! token, so a link on another site cannot sign anyone out. The browser
//! then goes to the client's registered `post_logout_redirect_uri`, or to
//! the sign-in page.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::oidc::logout::{Logout, LogoutQuery};
use latchkey_core::ClientInfo;
use serde::Deserialize;

use super::authorize::ending_at;
use super::forms::{csrf_forms, UserForm};
use super::{bad_request, cookies, menu, parsed_query, render, Menu};
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "oidc_logout.html")]
struct LogoutPage {
    menu: Option<Menu>,
    csrf_token: String,
    username: String,
    /// The client asking, when it named itself.
    client_name: Option<String>,
    query: LogoutQuery,
}

/// The question's answer, with the request it is about.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    decision: String,
    #[serde(flatten)]
    query: LogoutQuery,
}

/// The request checked, or its error page (never a redirect).
async fn check(app: &AppState, query: &LogoutQuery) -> Result<Logout, WebError> {
    app.services.oidc.check_logout(query).await?.map_err(bad_request)
}

/// Ends the session, then on to where the request asked.
async fn sign_out(
    app: &AppState,
    jar: CookieJar,
    current: &CurrentUser,
    logout: &Logout,
    from: &ClientInfo,
) -> Result<Response, WebError> {
    app.services.sessions.end(&current.session, from).await?;
    Ok((cookies::signed_out(jar, &app.web), onwards(logout)).into_response())
}

/// To the client's registered URI (with `state`), or the sign-in page.
fn onwards(logout: &Logout) -> Response {
    Redirect::to(logout.redirect.as_deref().unwrap_or("/login")).into_response()
}

/// `GET /oauth2/logout`.
pub async fn get_logout(
    State(app): State<AppState>,
    Client(from): Client,
    RawQuery(query): RawQuery,
    jar: CookieJar,
    current: Option<CurrentUser>,
) -> Result<Response, WebError> {
    let query: LogoutQuery = parsed_query(&query.unwrap_or_default(), "The logout request is malformed.")?;
    let logout = check(&app, &query).await?;
    let Some(current) = current else {
        return Ok(onwards(&logout));
    };
    if logout.is_hint_for(&current.session) {
        return sign_out(&app, jar, &current, &logout, &from).await;
    }
    let page = render(&LogoutPage {
        menu: Some(menu(&current.user, &current)),
        csrf_token: current.session.csrf_token.clone(),
        username: current.user.username.to_string(),
        client_name: logout.client.as_ref().map(|c| c.name.clone()),
        query,
    })?;
    // The answer to the form is a redirect to the client.
    let origin = logout.redirect.as_deref().and_then(|uri| url::Url::parse(uri).ok());
    Ok(ending_at(page, origin.map(|url| url.origin().ascii_serialization())))
}

/// `POST /oauth2/logout`: the question answered.
pub async fn post_logout(
    State(app): State<AppState>,
    Client(from): Client,
    jar: CookieJar,
    UserForm { current, form }: UserForm<LogoutForm>,
) -> Result<Response, WebError> {
    let logout = check(&app, &form.query).await?;
    if form.decision != "logout" {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    sign_out(&app, jar, &current, &logout, &from).await
}

csrf_forms!(LogoutForm);
