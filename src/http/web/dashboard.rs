//! `/` and `/dashboard`.

use askama::Template;
use axum::response::{Redirect, Response};
use time::macros::format_description;

use super::{render, Menu};
use crate::http::error::WebError;
use crate::http::extract::CurrentUser;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    menu: Option<Menu>,
    username: String,
    email: String,
    created_at: String,
    mfa_enabled: bool,
}

/// `/`: the dashboard when signed in, else the sign-in page.
pub async fn get_index(current: Option<CurrentUser>) -> Redirect {
    match current {
        Some(_) => Redirect::to("/dashboard"),
        None => Redirect::to("/login"),
    }
}

/// The signed-in start page with the "Hello, USERNAME" menu.
pub async fn get_dashboard(current: CurrentUser) -> Result<Response, WebError> {
    let user = &current.user;
    let day = format_description!("[day padding:none] [month repr:long] [year]");
    let page = DashboardPage {
        menu: Some(Menu::new(user.username.as_str(), &current.session)),
        username: user.username.to_string(),
        email: user.email.to_string(),
        created_at: user.created_at.format(day).unwrap_or_default(),
        mfa_enabled: user.mfa_enabled,
    };
    render(&page)
}
