//! The `latchkey` binary's library: CLI, configuration, start-up and the HTTP layer.
//!
//! Kept as a library so that the integration tests can start any number of
//! isolated servers in-process, each with its own store and clock.

pub mod admin;
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod http;
pub mod log_head;
pub mod mail;
pub mod server;
pub mod server_key;
pub mod serving;
pub mod startup;
pub mod webhook;
