//! `/account/mfa`: enrolment by QR code, and once on, recovery codes and turning it off.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use latchkey_core::totp::grouped;
use latchkey_core::{ClientInfo, CoreError, Refusal};
use serde::Deserialize;

use super::confirm::proof_or_confirm;
use super::forms::{csrf_forms, UserForm};
use super::login::ReturnTo;
use super::{menu, render, when, words, Menu};
use crate::http::error::{clock_off_message, WebError};
use crate::http::extract::{Client, CurrentUser};
use crate::http::{return_to, AppState};

#[derive(Template)]
#[template(path = "mfa_setup.html")]
struct SetupPage {
    menu: Option<Menu>,
    csrf_token: String,
    username: String,
    qr_svg: String,
    secret: String,
    secret_grouped: String,
    error: Option<String>,
    /// Where to go once MFA is on (an application that asked for it).
    rd: Option<String>,
    /// Whether passkeys work here ("Or add a passkey instead").
    passkeys_available: bool,
}

#[derive(Template)]
#[template(path = "mfa_manage.html")]
struct ManagePage {
    menu: Option<Menu>,
    csrf_token: String,
    codes_left: usize,
    authenticators: Vec<AuthenticatorRow>,
    passkeys: Vec<PasskeyRow>,
    passkeys_available: bool,
    /// What would get the owner in after losing one phone, if anything.
    recovery_ready: Option<String>,
    notice: Option<String>,
    authenticator_error: Option<&'static str>,
    passkey_error: Option<String>,
    regenerate_error: Option<&'static str>,
    disable_error: Option<&'static str>,
}

impl ManagePage {
    /// Authenticators and passkeys together: the last one is never removed.
    fn factors(&self) -> usize {
        self.authenticators.len() + self.passkeys.len()
    }
}

/// One passkey in the list.
struct PasskeyRow {
    id: String,
    name: String,
    added: String,
    last_used: String,
    /// "synced", "may sync, not synced yet" or "this device only".
    kind: &'static str,
}

/// One authenticator in the list.
struct AuthenticatorRow {
    id: String,
    name: String,
    added: String,
    last_used: String,
    clock_note: Option<String>,
}

/// What the MFA page shows besides the lists: a notice or an error.
#[derive(Default)]
pub(super) struct ManageMessages {
    /// Something that worked ("Added …").
    pub notice: Option<String>,
    /// Adding or removing an authenticator failed.
    pub authenticator_error: Option<&'static str>,
    /// Adding, renaming or removing a passkey failed.
    pub passkey_error: Option<String>,
    /// New recovery codes were refused.
    pub regenerate_error: Option<&'static str>,
    /// Turning MFA off was refused.
    pub disable_error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "mfa_codes.html")]
struct CodesPage<'a> {
    menu: Option<Menu>,
    heading: &'static str,
    codes: Vec<String>,
    support: Option<&'a str>,
    /// The application to go on to (its URL and host), instead of the dashboard.
    continue_to: Option<(String, String)>,
}

impl CodesPage<'_> {
    /// The codes as the text file and the clipboard get them, one a line.
    fn as_text(&self) -> String {
        let mut text = String::from("Latchkey recovery codes: each signs in once in place of a 6-digit code.\n\n");
        for code in &self.codes {
            text.push_str(code);
            text.push('\n');
        }
        text
    }

    /// "Download as text" without a script: the file itself as a `data:` link.
    fn download_href(&self) -> String {
        let text = self.as_text();
        let encoded = percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC);
        format!("data:text/plain;charset=utf-8,{encoded}")
    }
}

/// A form holding a current code. No `Debug`: it holds a code.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub(super) csrf_token: String,
    #[serde(default)]
    pub(super) code: String,
}

/// "Confirm Multi-Factor Authorization": the code, and a name for the app.
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    rd: String,
}

/// MFA off: the enrolment (resumed on reload, so the QR code stays the same).
/// MFA on: its status and the forms to manage it. `?rd=` (from an
/// application that needs MFA) is where the last page leads on to.
pub async fn get_mfa(
    State(app): State<AppState>,
    Client(client): Client,
    Query(ReturnTo { rd }): Query<ReturnTo>,
    current: CurrentUser,
) -> Result<Response, WebError> {
    if current.user.mfa_enabled {
        manage_page(&app, &current, ManageMessages::default()).await
    } else {
        setup_page(&app, &client, &current, None, return_to::checked(&rd, &app.web)).await
    }
}

/// Where the enrolment pages live, and where confirming the password returns to.
pub(super) const MFA_PAGE: &str = "/account/mfa";

/// The enrolment: only with a recent proof of the account, else the
/// password is asked for first.
pub(super) async fn setup_page(
    app: &AppState,
    client: &ClientInfo,
    current: &CurrentUser,
    error: Option<String>,
    rd: Option<String>,
) -> Result<Response, WebError> {
    let proof = match proof_or_confirm(app, client, current, MFA_PAGE).await? {
        Ok(proof) => proof,
        Err(confirm_first) => return Ok(confirm_first),
    };
    let enrolment = app.services.mfa.enrolment(&current.user, &current.session.id, false, &proof, client).await?;
    let secret = enrolment.secret_base32();
    let page = SetupPage {
        menu: Some(menu(&current.user, current)),
        csrf_token: current.session.csrf_token.clone(),
        username: current.user.username.to_string(),
        qr_svg: enrolment.qr_svg()?,
        secret_grouped: grouped(&secret),
        secret,
        error,
        rd,
        passkeys_available: app.services.passkeys.available(),
    };
    render(&page)
}

pub(super) async fn manage_page(
    app: &AppState,
    current: &CurrentUser,
    messages: ManageMessages,
) -> Result<Response, WebError> {
    let authenticators = app.services.mfa.authenticators(current.user.id).await?;
    let passkeys = app.services.passkeys.list(current.user.id).await?;
    let codes_left = app.services.mfa.recovery_codes_left(current.user.id).await?;
    let recovery_ready = recovery_ready(authenticators.len(), &passkeys, codes_left);
    let page = ManagePage {
        menu: Some(menu(&current.user, current)),
        csrf_token: current.session.csrf_token.clone(),
        codes_left,
        recovery_ready,
        passkeys_available: app.services.passkeys.available(),
        passkeys: passkeys
            .into_iter()
            .map(|p| PasskeyRow {
                id: p.id.to_string(),
                added: when(p.created_at),
                last_used: p.last_used_at.map_or_else(|| "not yet".into(), when),
                kind: match (p.backed_up, p.backup_eligible) {
                    (true, _) => "synced",
                    (false, true) => "may sync, not synced yet",
                    (false, false) => "this device only",
                },
                name: p.name,
            })
            .collect(),
        authenticators: authenticators
            .into_iter()
            .map(|a| AuthenticatorRow {
                clock_note: clock_note(a.clock_offset_seconds),
                added: when(a.added_at),
                last_used: when(a.last_used_at),
                id: a.id.to_string(),
                name: a.name,
            })
            .collect(),
        notice: messages.notice,
        authenticator_error: messages.authenticator_error,
        passkey_error: messages.passkey_error,
        regenerate_error: messages.regenerate_error,
        disable_error: messages.disable_error,
    };
    render(&page)
}

/// Recovery codes at or above which losing one phone locks no one out.
const CODES_FOR_RECOVERY: usize = 3;

/// Whether the owner would still get in after losing one phone, and by what:
/// a synced passkey (it comes back on a new phone), a second factor, or
/// enough recovery codes. `None`: they would need the support team.
fn recovery_ready(
    authenticators: usize,
    passkeys: &[latchkey_core::store::PasskeyRecord],
    codes_left: usize,
) -> Option<String> {
    if let Some(synced) = passkeys.iter().find(|p| p.backed_up) {
        Some(format!("your passkey “{}” is synced, so it comes back on a new phone", synced.name))
    } else if authenticators + passkeys.len() >= 2 {
        Some(format!("you have {} ways to give the second step", authenticators + passkeys.len()))
    } else if codes_left >= CODES_FOR_RECOVERY {
        Some(format!("you have {codes_left} recovery codes; keep them apart from your phone"))
    } else {
        None
    }
}

/// A word about a phone clock that codes show to be off (a learned drift of
/// a minute or more; one late code is just slow typing).
fn clock_note(offset_seconds: i64) -> Option<String> {
    (offset_seconds.abs() >= 60).then(|| {
        let way = if offset_seconds > 0 { "fast" } else { "slow" };
        format!(
            "Your phone's clock seems about {} seconds {way}. Codes still work, but set the phone to set its time automatically.",
            offset_seconds.unsigned_abs()
        )
    })
}

pub(super) fn codes_page(
    app: &AppState,
    current: &CurrentUser,
    heading: &'static str,
    codes: Vec<String>,
    rd: Option<String>,
) -> Result<Response, WebError> {
    let continue_to = rd.and_then(|rd| {
        let host = url::Url::parse(&rd).ok()?.host_str()?.to_string();
        Some((rd, host))
    });
    let menu = Some(menu(&current.user, current));
    let page = CodesPage { menu, heading, codes, support: app.web.support_contact(), continue_to };
    render(&page)
}

/// "Confirm Multi-Factor Authorization": a right code turns MFA on and shows
/// the recovery codes once; a wrong one shows the same enrolment again.
pub async fn post_confirm(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<ConfirmForm>,
) -> Result<Response, WebError> {
    let proof = match proof_or_confirm(&app, &client, &current, MFA_PAGE).await? {
        Ok(proof) => proof,
        Err(confirm_first) => return Ok(confirm_first),
    };
    let session = &current.session.id;
    let rd = return_to::checked(&form.rd, &app.web);
    match app.services.mfa.confirm_enrolment(&current.user, &form.name, &form.code, session, &proof, &client).await {
        Ok(codes) => codes_page(&app, &current, "Multi-Factor Authentication is active.", codes, rd),
        Err(CoreError::InvalidCode) => setup_page(&app, &client, &current, Some(words::WRONG_CODE.into()), rd).await,
        Err(CoreError::ClockOff { seconds }) => {
            setup_page(&app, &client, &current, Some(clock_off_message(seconds)), rd).await
        }
        Err(CoreError::Refused(Refusal::MfaAlreadyOn)) => manage_page(&app, &current, ManageMessages::default()).await,
        Err(CoreError::Validation(fields)) => {
            setup_page(&app, &client, &current, fields.into_values().next(), rd).await
        }
        Err(CoreError::Refused(reason @ (Refusal::NoEnrolment | Refusal::EnrolmentReplaced))) => {
            setup_page(&app, &client, &current, Some(words::refusal(reason).into()), rd).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Turns MFA off for a current code.
pub async fn post_disable(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { mut current, form }: UserForm<CodeForm>,
) -> Result<Response, WebError> {
    match app.services.mfa.disable(&current.user, &mut current.session, &form.code, &client).await {
        Ok(()) => {
            current.user.mfa_enabled = false;
            setup_page(&app, &client, &current, None, None).await
        }
        Err(CoreError::InvalidCode) => {
            let messages = ManageMessages { disable_error: Some(words::WRONG_CODE), ..ManageMessages::default() };
            manage_page(&app, &current, messages).await
        }
        Err(CoreError::Refused(Refusal::MfaOff)) => setup_page(&app, &client, &current, None, None).await,
        Err(e) => Err(e.into()),
    }
}

/// A new set of recovery codes for a current code.
pub async fn post_recovery_codes(
    State(app): State<AppState>,
    Client(client): Client,
    UserForm { current, form }: UserForm<CodeForm>,
) -> Result<Response, WebError> {
    match app.services.mfa.regenerate_recovery_codes(&current.user, &form.code, &client).await {
        Ok(codes) => {
            codes_page(&app, &current, "New recovery codes are ready; the old ones no longer work.", codes, None)
        }
        Err(CoreError::InvalidCode) => {
            let messages = ManageMessages { regenerate_error: Some(words::WRONG_CODE), ..ManageMessages::default() };
            manage_page(&app, &current, messages).await
        }
        Err(CoreError::Refused(Refusal::MfaOff)) => setup_page(&app, &client, &current, None, None).await,
        Err(e) => Err(e.into()),
    }
}

csrf_forms!(CodeForm, ConfirmForm);
