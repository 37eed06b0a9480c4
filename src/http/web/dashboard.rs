//! `/` and `/dashboard`.

use askama::Template;
use axum::extract::State;
use axum::response::{Redirect, Response};
use time::macros::format_description;

use super::{render, Menu};
use crate::http::error::WebError;
use crate::http::extract::CurrentUser;
use crate::http::AppState;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    menu: Option<Menu>,
    username: String,
    /// The address in two parts, so a narrow screen breaks it at the `@`.
    email_local: String,
    email_domain: String,
    email_verified: bool,
    created_at: String,
    /// The groups the user is in (access rules name them).
    groups: Vec<String>,
    mfa_enabled: bool,
    recovery_codes_left: usize,
    few_recovery_codes: bool,
    replay_alarm: bool,
    /// The alarm was raised by a passkey's counter, not a replayed code.
    clone_alarm: bool,
    csrf_token: String,
}

/// `/`: the dashboard when signed in, else the sign-in page.
pub async fn get_index(current: Option<CurrentUser>) -> Redirect {
    match current {
        Some(_) => Redirect::to("/dashboard"),
        None => Redirect::to("/login"),
    }
}

/// The signed-in start page with the "Hello, USERNAME" menu; it raises the
/// replayed-code alarm and asks for new recovery codes when few are left.
pub async fn get_dashboard(State(app): State<AppState>, current: CurrentUser) -> Result<Response, WebError> {
    let user = &current.user;
    let recovery_codes_left = if user.mfa_enabled { app.services.mfa.recovery_codes_left(user.id).await? } else { 0 };
    let alarm = app.services.events.alarm(user.id).await?;
    let day = format_description!("[day padding:none] [month repr:long] [year]");
    let page = DashboardPage {
        menu: Some(Menu::new(user.username.as_str(), &current.session)),
        username: user.username.to_string(),
        email_local: user.email.as_str().rsplit_once('@').map_or("", |(local, _)| local).to_string(),
        email_domain: user.email.as_str().rsplit_once('@').map_or("", |(_, domain)| domain).to_string(),
        email_verified: user.email_verified,
        created_at: user.created_at.format(day).unwrap_or_default(),
        groups: user.groups.iter().map(ToString::to_string).collect(),
        mfa_enabled: user.mfa_enabled,
        recovery_codes_left,
        few_recovery_codes: user.mfa_enabled && recovery_codes_left <= latchkey_core::events::RECOVERY_CODES_LOW,
        replay_alarm: alarm.is_some(),
        clone_alarm: alarm == Some(latchkey_core::EventKind::PasskeyCloneSuspected),
        csrf_token: current.session.csrf_token.clone(),
    };
    render(&page)
}
