//! Who may reach what: groups of users, and the access rules forward
//! authentication decides with.

pub mod groups;
pub mod rules;

pub use groups::Groups;
