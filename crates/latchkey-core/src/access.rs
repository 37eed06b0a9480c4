//! Who may reach what: groups of users, the access rules forward
//! authentication decides with, and app tokens for what is not a browser.

pub mod app_tokens;
pub mod groups;
pub mod rules;

pub use app_tokens::AppTokens;
pub use groups::Groups;
