//! `/login` and `/logout`.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use latchkey_core::{CoreError, PasswordAccepted, PendingSignIn, SecondStep, SignIn, SignInFrom};
use serde::Deserialize;

use super::authorize::{ending_at, return_target, signs_in_again};
use super::forms::{csrf_forms, CodeStep, CodeStepForm, GuestForm, UserForm};
use super::{cookies, render, signed_out_form, words, Menu};
use crate::http::error::WebError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::{return_to, AppState};

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    menu: Option<Menu>,
    csrf_token: String,
    login: String,
    error: Option<&'static str>,
    /// Where to go after the sign-in, when it may be followed.
    rd: Option<String>,
    /// This service's host.
    public_host: String,
    /// Whether passkeys work here ("Sign in with a passkey").
    passkeys: bool,
}

impl LoginPage {
    /// The sign-in form, with the login typed so far and a word on what went wrong.
    pub(super) fn new(
        app: &AppState,
        csrf_token: String,
        login: String,
        error: Option<&'static str>,
        rd: Option<String>,
    ) -> Self {
        let public_host = app.web.public_url.host().to_string();
        let passkeys = app.services.passkeys.available();
        LoginPage { menu: None, csrf_token, login, error, rd, public_host, passkeys }
    }

    /// The application the sign-in leads on to: `rd`'s host, when it is
    /// another than this service's ("to continue to wiki.example.com").
    fn continue_to(&self) -> Option<String> {
        let rd = url::Url::parse(self.rd.as_deref()?).ok()?;
        rd.host_str().filter(|host| *host != self.public_host).map(str::to_string)
    }
}

/// The sign-in page at its second step: the code field, posting to `/login/mfa`.
#[derive(Template)]
#[template(path = "login_mfa.html")]
struct CodeStepPage<'a> {
    menu: Option<Menu>,
    csrf_token: String,
    error: Option<&'static str>,
    support: Option<&'a str>,
    trust_days: Option<i64>,
    /// The name the authenticator app lists the account under.
    issuer: &'a str,
    /// Where to go after the sign-in, when it may be followed.
    rd: Option<String>,
    /// A text field for a recovery code instead of the numeric code field.
    recovery: bool,
    /// "Use a passkey or security key": the account has one, and passkeys work here.
    passkey: bool,
}

impl<'a> CodeStepPage<'a> {
    async fn new(
        app: &'a AppState,
        pending: PendingSignIn,
        error: Option<&'static str>,
        rd: Option<String>,
    ) -> Result<Self, WebError> {
        let trust_days = app.services.mfa.trust_devices_for().map(|d| d.whole_days());
        let issuer = app.services.mfa.issuer();
        let support = app.web.support_contact();
        let passkey = app.services.passkeys.offered_at_code_step(pending.user_id).await?;
        let csrf_token = pending.csrf_token;
        Ok(CodeStepPage { menu: None, csrf_token, error, support, trust_days, issuer, rd, recovery: false, passkey })
    }

    fn for_recovery_code(self, recovery: bool) -> Self {
        CodeStepPage { recovery, ..self }
    }

    /// The link to the same step with the other field (works without a script).
    fn switch_href(&self, recovery: bool) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if recovery {
            query.append_pair("recovery", "yes");
        }
        if let Some(rd) = &self.rd {
            query.append_pair("rd", rd);
        }
        let query = query.finish();
        if query.is_empty() {
            "/login/mfa".into()
        } else {
            format!("/login/mfa?{query}")
        }
    }
}

/// `?recovery=yes&rd=…` on the code step.
#[derive(Deserialize)]
pub struct CodeStepQuery {
    #[serde(default)]
    recovery: Option<String>,
    #[serde(default)]
    rd: String,
}

/// `?rd=URL` on the sign-in page: where to go once signed in.
#[derive(Deserialize)]
pub struct ReturnTo {
    #[serde(default)]
    pub(super) rd: String,
}

/// Where a finished sign-in sends the browser: `rd` when it may be
/// followed, else the dashboard.
pub(super) fn after_sign_in(rd: Option<&str>) -> Redirect {
    Redirect::to(rd.unwrap_or("/dashboard"))
}

/// The form as posted; missing fields read as empty. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    rd: String,
}

/// The sign-in form (or, for someone already signed in, `rd` or the dashboard).
pub async fn get_login(
    State(app): State<AppState>,
    Query(ReturnTo { rd }): Query<ReturnTo>,
    current: Option<CurrentUser>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    let rd = return_to::checked(&rd, &app.web);
    let signed_in_to = rd.clone().unwrap_or_else(|| "/dashboard".into());
    let target = return_target(&app, rd.as_deref()).await;
    // An application that asked for a fresh sign-in gets one, signed in or not.
    let current = current.filter(|_| !signs_in_again(&app, rd.as_deref()));
    let page = signed_out_form(&app, current, jar, &signed_in_to, |csrf_token| {
        LoginPage::new(&app, csrf_token, String::new(), None, rd)
    })?;
    Ok(ending_at(page, target))
}

/// Checks the password; success ends any previous session and starts a new one.
pub async fn post_login(
    State(app): State<AppState>,
    Client(client): Client,
    GuestForm { jar, csrf_token, form }: GuestForm<LoginForm>,
) -> Result<Response, WebError> {
    let rd = return_to::checked(&form.rd, &app.web);
    // A sign-in an application asked for (`prompt=login`, `max_age`,
    // `acr_values=mfa`) is a full one: a remembered browser skips no code step.
    let device = cookies::device_token(&jar, &app.web).filter(|_| !signs_in_again(&app, rd.as_deref()));
    let known = cookies::known_client_token(&jar, &app.web);
    let previous = cookies::session_token(&jar, &app.web);
    let from = SignInFrom {
        client: &client,
        device_token: device.as_deref(),
        known_client: known.as_deref(),
        replaces: previous.as_deref(),
    };
    let error = match app.services.accounts.sign_in(&form.login, &form.password, &from).await {
        Ok(PasswordAccepted { next, known_client }) => {
            let jar = cookies::known_client(jar, known_client, &app.web);
            return match next {
                SignIn::Done(signed_in) => {
                    Ok((cookies::signed_in(jar, *signed_in, &app.web), after_sign_in(rd.as_deref())).into_response())
                }
                SignIn::NeedsCode { token, pending } => {
                    let jar = cookies::pending_sign_in(jar, token, &app.web);
                    let target = return_target(&app, rd.as_deref()).await;
                    let page = render(&CodeStepPage::new(&app, pending, None, rd).await?)?;
                    Ok((jar, ending_at(page, target)).into_response())
                }
            };
        }
        Err(CoreError::InvalidCredentials) => words::INVALID_CREDENTIALS,
        Err(CoreError::AccountLocked) => words::ACCOUNT_LOCKED,
        Err(CoreError::EmailUnverified) => words::EMAIL_UNVERIFIED,
        Err(e) => return Err(e.into()),
    };
    let target = return_target(&app, rd.as_deref()).await;
    Ok(ending_at(render(&LoginPage::new(&app, csrf_token, form.login, Some(error), rd))?, target))
}

/// The code form again while a sign-in is pending (with a text field for a
/// recovery code on `?recovery=yes`), else the sign-in page.
pub async fn get_login_mfa(
    State(app): State<AppState>,
    Query(asked): Query<CodeStepQuery>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    let Some(token) = cookies::pending_token(&jar, &app.web) else {
        return Ok(Redirect::to("/login").into_response());
    };
    match app.services.mfa.pending_sign_in(&token).await {
        Ok(pending) => {
            let rd = return_to::checked(&asked.rd, &app.web);
            let target = return_target(&app, rd.as_deref()).await;
            let page = CodeStepPage::new(&app, pending, None, rd).await?;
            Ok(ending_at(render(&page.for_recovery_code(asked.recovery.is_some()))?, target))
        }
        Err(CoreError::Unauthenticated) => {
            Ok((cookies::pending_over(jar, &app.web), Redirect::to("/login")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The code form as posted. No `Debug`: it holds a code.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    /// "Don't ask for a code on this browser", when ticked.
    #[serde(default)]
    trust_device: Option<String>,
    #[serde(default)]
    rd: String,
    /// Sent by the recovery-code form, so a wrong code shows it again.
    #[serde(default)]
    recovery: Option<String>,
    /// Sent by the passkey form instead of a code: `PublicKeyCredential.toJSON()`.
    #[serde(default)]
    credential: String,
}

/// The second step: a right code signs in; a wrong one shows the form again;
/// a pending sign-in that died sends the person back to the password.
pub async fn post_login_mfa(
    State(app): State<AppState>,
    Client(client): Client,
    CodeStepForm { jar, step }: CodeStepForm<CodeForm>,
) -> Result<Response, WebError> {
    let (token, form) = match step {
        CodeStep::Missing => return Ok(Redirect::to("/login").into_response()),
        CodeStep::Over => return start_again(&app, jar, None),
        CodeStep::Live { token, form } => (token, form),
    };
    let rd = return_to::checked(&form.rd, &app.web);
    let previous = cookies::session_token(&jar, &app.web);
    let from = SignInFrom { replaces: previous.as_deref(), ..SignInFrom::client(&client) };
    let trust = form.trust_device.is_some();
    let passkey = match form.credential.as_str() {
        "" => None,
        text => Some(serde_json::from_str(text).unwrap_or(serde_json::Value::Null)),
    };
    let step = match &passkey {
        Some(credential) => SecondStep::Passkey(credential),
        None => SecondStep::Code(&form.code),
    };
    match app.services.mfa.complete_sign_in(&token, step, trust, &from).await {
        Ok(signed_in) => {
            Ok((cookies::signed_in(jar, signed_in, &app.web), after_sign_in(rd.as_deref())).into_response())
        }
        Err(CoreError::AccountLocked) => {
            let (jar, csrf_token) = cookies::pre_session_token(cookies::pending_over(jar, &app.web), &app.web);
            let page = LoginPage::new(&app, csrf_token, String::new(), Some(words::ACCOUNT_LOCKED), None);
            Ok((jar, render(&page)?).into_response())
        }
        Err(CoreError::InvalidCode | CoreError::InvalidPasskey) => {
            let error = if passkey.is_some() { words::PASSKEY_REFUSED } else { words::WRONG_CODE };
            match app.services.mfa.pending_sign_in(&token).await {
                Ok(pending) => {
                    let target = return_target(&app, rd.as_deref()).await;
                    let page = CodeStepPage::new(&app, pending, Some(error), rd).await?;
                    Ok(ending_at(render(&page.for_recovery_code(form.recovery.is_some()))?, target))
                }
                Err(_) => start_again(&app, jar, rd),
            }
        }
        Err(CoreError::Unauthenticated) => start_again(&app, jar, rd),
        Err(e) => Err(e.into()),
    }
}

/// The sign-in page with a word on why, the dead pending sign-in forgotten.
fn start_again(app: &AppState, jar: CookieJar, rd: Option<String>) -> Result<Response, WebError> {
    let (jar, csrf_token) = cookies::pre_session_token(cookies::pending_over(jar, &app.web), &app.web);
    let page = LoginPage::new(app, csrf_token, String::new(), Some(words::START_AGAIN), rd);
    Ok((jar, render(&page)?).into_response())
}

/// The Logout button: ends the session server-side and returns to the sign-in page.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// Ends the session; 303 to `/login`.
pub async fn post_logout(
    State(app): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    UserForm { current, .. }: UserForm<LogoutForm>,
) -> Result<Response, WebError> {
    app.services.sessions.end(&current.session, &client).await?;
    Ok((cookies::signed_out(jar, &app.web), Redirect::to("/login")).into_response())
}

csrf_forms!(LoginForm, CodeForm, LogoutForm);
