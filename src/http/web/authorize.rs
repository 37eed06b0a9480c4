//! `/oauth2/authorize`: the OpenID Connect authorization endpoint, a page
//! flow (contract section 9). Without a session the browser is sent to sign
//! in (and its second step) and back; the first time a client asks, the
//! user sees what it will receive and allows or denies it; then the browser
//! goes back to the client with a code. An unknown client or a redirect URI
//! it did not register is a page, never a redirect.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::oidc::authorize::{
    denied, Authorization, AuthorizeError, AuthorizeRequest, SignInCheck, SENT_TO_SIGN_IN_AT,
};
use serde::Deserialize;

use super::forms::{csrf_forms, UserForm};
use super::{bad_request, menu, parsed_query, render, Menu};
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::headers::FormTargets;
use crate::http::AppState;

#[derive(Template)]
#[template(path = "oidc_consent.html")]
struct ConsentPage {
    menu: Option<Menu>,
    csrf_token: String,
    client_name: String,
    username: String,
    items: Vec<&'static str>,
    /// The authorize request's query, carried to the decision.
    request: String,
}

/// The consent form: the decision and the request it is about.
#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

/// The request a query holds (every field a string, so only a malformed
/// query fails: an error page).
fn parse(query: &str) -> Result<AuthorizeRequest, WebError> {
    parsed_query(query, "The authorize request is malformed.")
}

/// The origin of the client an authorize request (`rd`, where a sign-in
/// leads on to) sends the browser back to, when the request is good: the
/// sign-in pages' forms end there (see [`FormTargets`]).
pub async fn return_target(app: &AppState, rd: Option<&str>) -> Option<String> {
    let url = url::Url::parse(rd?).ok()?;
    if url.path() != "/oauth2/authorize" {
        return None;
    }
    let request = parse(url.query()?).ok()?;
    let authorization = app.services.oidc.check_authorize(&request).await.ok()?;
    Some(url::Url::parse(&authorization.redirect_uri).ok()?.origin().ascii_serialization())
}

/// An answer whose forms may end at `origin` (the client's).
pub fn ending_at(mut response: Response, origin: Option<String>) -> Response {
    if let Some(origin) = origin {
        response.extensions_mut().insert(FormTargets(vec![origin]));
    }
    response
}

/// Back to the client of a checked request with `params`.
fn back_to_client(app: &AppState, authorization: &Authorization, params: &[(&str, &str)]) -> Response {
    redirect_to(app, &authorization.redirect_uri, authorization.state.as_deref(), params)
}

/// To `redirect_uri` (registered by the client: checked before) with
/// `params`, the request's `state`, and our `iss` (RFC 9207).
fn redirect_to(app: &AppState, redirect_uri: &str, state: Option<&str>, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return bad_request("The redirect_uri is not a URL.").into_response(),
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", app.services.oidc.issuer());
    }
    Redirect::to(url.as_str()).into_response()
}

fn refusal(app: &AppState, authorization: &Authorization, error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::NotRedirectable(message) => bad_request(message).into_response(),
        AuthorizeError::Redirect { error, description } => {
            back_to_client(app, authorization, &[("error", error), ("error_description", description)])
        }
    }
}

/// Checks the request; errors that may not go back to the client become a page.
async fn check(app: &AppState, request: &AuthorizeRequest) -> Result<Authorization, Response> {
    match app.services.oidc.check_authorize(request).await {
        Ok(authorization) => Ok(authorization),
        Err(AuthorizeError::NotRedirectable(message)) => Err(bad_request(message).into_response()),
        Err(AuthorizeError::Redirect { error, description }) => {
            // Only raised once the client and its redirect URI are checked: the error goes back.
            let params = [("error", error), ("error_description", description)];
            Err(redirect_to(app, &request.redirect_uri, request.state.as_deref(), &params))
        }
    }
}

/// Issues the code and sends the browser back with it.
async fn grant(app: &AppState, current: &CurrentUser, authorization: &Authorization) -> Result<Response, WebError> {
    match app.services.oidc.issue_code(&current.user, &current.session, authorization).await? {
        Ok(code) => Ok(back_to_client(app, authorization, &[("code", &code)])),
        Err(refused) => Ok(refusal(app, authorization, refused)),
    }
}

/// To the sign-in page, and back to the request (`query`) after it. A
/// request that asks more of a sign-in than a session is marked as sent
/// now: a sign-in after the mark is fresh for `prompt=login` and `max_age=0`
/// (see [`latchkey_core::oidc::Oidc::sign_in_check`]), and a full one.
fn sign_in_for(app: &AppState, authorization: &Authorization, query: &str) -> Response {
    let mut request = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name != SENT_TO_SIGN_IN_AT {
            request.append_pair(&name, &value);
        }
    }
    if authorization.asks_for_sign_in() {
        let marker = app.services.oidc.fresh_sign_in_marker(&authorization.client.id);
        request.append_pair(SENT_TO_SIGN_IN_AT, &marker);
    }
    let rd: String =
        url::form_urlencoded::byte_serialize(format!("/oauth2/authorize?{}", request.finish()).as_bytes()).collect();
    Redirect::to(&format!("/login?rd={rd}")).into_response()
}

/// Whether `rd` is an authorize request this service just sent the browser
/// to sign in for, marked by [`sign_in_for`] (the mark checked): the
/// sign-in page then asks even someone signed in, and a remembered browser
/// skips no code step.
pub fn signs_in_again(app: &AppState, rd: Option<&str>) -> bool {
    let Some(url) = rd.and_then(|rd| url::Url::parse(rd).ok()).filter(|url| url.path() == "/oauth2/authorize") else {
        return false;
    };
    let field = |wanted: &str| url.query_pairs().find(|(name, _)| name == wanted).map(|(_, value)| value.into_owned());
    let (Some(marker), Some(client_id)) = (field(SENT_TO_SIGN_IN_AT), field("client_id")) else { return false };
    app.services.oidc.marker_time(&marker, &client_id).is_some()
}

/// The answer when the signed-in user may not go on with the request yet
/// (or at all): a client limited to groups they are not in, or a sign-in
/// too old, without `prompt=login`'s fresh sign-in, or without the second
/// factor `acr_values=mfa` asks for.
fn unless_allowed(
    app: &AppState,
    current: &CurrentUser,
    authorization: &Authorization,
    query: &str,
) -> Option<Response> {
    if !app.services.oidc.may_use(&current.user, authorization) {
        return Some(refusal(app, authorization, denied()));
    }
    match app.services.oidc.sign_in_check(&current.session, authorization) {
        SignInCheck::Enough => None,
        SignInCheck::Again if authorization.prompt_none => {
            let params = [("error", "login_required"), ("error_description", "The request needs a fresh sign-in.")];
            Some(back_to_client(app, authorization, &params))
        }
        SignInCheck::Again => Some(sign_in_for(app, authorization, query)),
        SignInCheck::NoSecondFactor => {
            let description = "The application asks for a second factor (an authenticator app or a passkey), \
                               and this account signed in without one.";
            Some(back_to_client(app, authorization, &[("error", "access_denied"), ("error_description", description)]))
        }
    }
}

/// `GET /oauth2/authorize`.
pub async fn get_authorize(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    current: Option<CurrentUser>,
) -> Result<Response, WebError> {
    let query = query.unwrap_or_default();
    let request = parse(&query)?;
    let authorization = match check(&app, &request).await {
        Ok(authorization) => authorization,
        Err(answer) => return Ok(answer),
    };
    let Some(current) = current else {
        if authorization.prompt_none {
            let params = [("error", "login_required"), ("error_description", "No one is signed in.")];
            return Ok(back_to_client(&app, &authorization, &params));
        }
        return Ok(sign_in_for(&app, &authorization, &query));
    };
    if let Some(answer) = unless_allowed(&app, &current, &authorization, &query) {
        return Ok(answer);
    }
    if app.services.oidc.needs_consent(&current.user, &authorization).await? {
        if authorization.prompt_none {
            let params = [("error", "consent_required"), ("error_description", "The user has not allowed it yet.")];
            return Ok(back_to_client(&app, &authorization, &params));
        }
        let page = render(&ConsentPage {
            menu: Some(menu(&current.user, &current)),
            csrf_token: current.session.csrf_token.clone(),
            client_name: authorization.client.name.clone(),
            username: current.user.username.to_string(),
            items: consent_items(&authorization.scopes),
            request: query,
        })?;
        // The decision's answer is a redirect to the client.
        let origin = url::Url::parse(&authorization.redirect_uri).ok().map(|u| u.origin().ascii_serialization());
        return Ok(ending_at(page, origin));
    }
    grant(&app, &current, &authorization).await
}

/// What each granted scope gives away, in the consent page's words.
fn consent_items(scopes: &[String]) -> Vec<&'static str> {
    scopes
        .iter()
        .filter_map(|scope| match scope.as_str() {
            "openid" => Some("Who you are here (an identifier that stays the same)"),
            "profile" => Some("Your username"),
            "email" => Some("Your email address, and whether it is verified"),
            "groups" => Some("The groups you are in"),
            "offline_access" => Some("Staying signed in while you are away (it can renew its access for 30 days)"),
            _ => None,
        })
        .collect()
}

/// `POST /oauth2/authorize`: the consent page's decision.
pub async fn post_authorize(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<ConsentForm>,
) -> Result<Response, WebError> {
    let request = parse(&form.request)?;
    let authorization = match check(&app, &request).await {
        Ok(authorization) => authorization,
        Err(answer) => return Ok(answer),
    };
    if let Some(answer) = unless_allowed(&app, &current, &authorization, &form.request) {
        return Ok(answer);
    }
    if form.decision != "allow" {
        let params = [("error", "access_denied"), ("error_description", "The user denied the request.")];
        return Ok(back_to_client(&app, &authorization, &params));
    }
    app.services.oidc.consent(&current.user, &authorization, &client).await?;
    grant(&app, &current, &authorization).await
}

csrf_forms!(ConsentForm);
