//! Latchkey's integration tests: one test binary that starts real servers on
//! random ports with throwaway stores and drives them over HTTP.

// A failed unwrap in a test is a failed test, with the location: exactly right here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_cli;
mod api_authenticators;
mod api_errors;
mod api_mfa;
mod api_security;
mod api_sessions;
mod api_signup;
mod app_tokens;
mod audit;
mod authlib;
mod binary;
mod browser;
mod deletion;
mod flooding;
mod forward_auth;
mod helpers;
mod known_clients;
mod lifecycle;
mod notifications;
mod oidc;
mod oidc_after_sign_in;
mod oidc_flow;
mod oidc_fresh_sign_in;
mod pages;
mod pages_csrf;
mod pages_mfa;
mod passkeys;
mod password;
mod postgres_processes;
mod proxies;
mod reauthentication;
mod soft_key;
mod store_conformance;
mod stores;
mod throttling;
mod webhooks;
