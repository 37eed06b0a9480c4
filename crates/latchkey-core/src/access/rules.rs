//! Access rules for forward authentication: the first rule whose conditions
//! hold for a request decides it; when none does, the default policy does.
//!
//! A rule's conditions are the request's host (exact, or one leading
//! wildcard label), its path (regular expressions), its method, the
//! client's network and, for a signed-in user, membership of a group. The
//! matcher is pure: it sees a request and who is asking, never a store, so
//! `latchkey authz explain` and the endpoints decide alike.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use crate::domain::GroupName;

/// What a rule (or the default) asks of a visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No sign-in needed.
    Bypass,
    /// Any Latchkey session.
    OneFactor,
    /// A session that passed a second factor.
    TwoFactor,
    /// Nobody.
    Deny,
}

impl Policy {
    /// The word the config file uses.
    pub fn parse(word: &str) -> Result<Policy, String> {
        match word {
            "bypass" => Ok(Policy::Bypass),
            "one_factor" => Ok(Policy::OneFactor),
            "two_factor" => Ok(Policy::TwoFactor),
            "deny" => Ok(Policy::Deny),
            other => Err(format!("unknown policy {other:?}: use bypass, one_factor, two_factor or deny")),
        }
    }

    /// The config file's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Bypass => "bypass",
            Policy::OneFactor => "one_factor",
            Policy::TwoFactor => "two_factor",
            Policy::Deny => "deny",
        }
    }
}

/// A host pattern: an exact host, or `*.` and a domain, which stands for
/// exactly one more label (as in a TLS certificate: `*.example.com` covers
/// `wiki.example.com`, neither `example.com` nor `a.wiki.example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// One host.
    Exact(String),
    /// Any one label before this domain.
    AnyLabelOf(String),
}

impl HostPattern {
    /// Checks and folds a pattern; the message names what is wrong.
    pub fn parse(raw: &str) -> Result<HostPattern, String> {
        let folded = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let (wildcard, domain) = match folded.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, folded),
        };
        let label_ok = |l: &str| {
            !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if domain.is_empty() || !domain.split('.').all(label_ok) {
            return Err(format!("domain {raw:?} is not a host name or `*.` and a domain"));
        }
        Ok(if wildcard { HostPattern::AnyLabelOf(domain) } else { HostPattern::Exact(domain) })
    }

    /// Whether a host (folded, without port) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(exact) => host == exact,
            HostPattern::AnyLabelOf(domain) => host
                .strip_suffix(domain.as_str())
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }

    /// Whether every host this pattern matches, `other` matches too.
    fn covered_by(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Exact(host), _) => other.matches(host),
            (HostPattern::AnyLabelOf(mine), HostPattern::AnyLabelOf(theirs)) => mine == theirs,
            (HostPattern::AnyLabelOf(_), HostPattern::Exact(_)) => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(host) => f.write_str(host),
            HostPattern::AnyLabelOf(domain) => write!(f, "*.{domain}"),
        }
    }
}

/// A rule as the configuration writes it, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct RuleSpec {
    /// Hosts (at least one).
    pub domains: Vec<String>,
    /// Regular expressions on the path; empty: any path.
    pub paths: Vec<String>,
    /// Methods; empty: any.
    pub methods: Vec<String>,
    /// Client networks (`10.0.0.0/8`, or one address); empty: any.
    pub networks: Vec<String>,
    /// Groups, one of which a signed-in user must be in; empty: anyone.
    pub groups: Vec<String>,
    /// What the rule asks.
    pub policy: String,
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    hosts: Vec<HostPattern>,
    paths: Vec<Regex>,
    methods: Vec<String>,
    networks: Vec<IpNet>,
    groups: Vec<GroupName>,
    policy: Policy,
}

impl Rule {
    /// Checks a rule; the message names what is wrong.
    pub fn parse(spec: &RuleSpec) -> Result<Rule, String> {
        if spec.domains.is_empty() {
            return Err("a rule needs a domain".into());
        }
        let hosts = spec.domains.iter().map(|d| HostPattern::parse(d)).collect::<Result<_, _>>()?;
        let paths = spec
            .paths
            .iter()
            .map(|p| {
                // The error draws a caret under the pattern over several
                // lines; its last line says what is wrong.
                Regex::new(p).map_err(|e| {
                    let text = e.to_string();
                    let why = text.lines().last().unwrap_or_default().trim_start_matches("error: ").to_string();
                    format!("path {p:?} is not a regular expression: {why}")
                })
            })
            .collect::<Result<_, _>>()?;
        let methods = spec
            .methods
            .iter()
            .map(|m| {
                let upper = m.trim().to_ascii_uppercase();
                if upper.is_empty() || !upper.chars().all(|c| c.is_ascii_alphabetic()) {
                    Err(format!("method {m:?} is not an HTTP method"))
                } else {
                    Ok(upper)
                }
            })
            .collect::<Result<_, _>>()?;
        let networks = spec.networks.iter().map(|n| parse_network(n)).collect::<Result<_, _>>()?;
        let groups = spec
            .groups
            .iter()
            .map(|g| GroupName::parse(g).map_err(|why| format!("group {g:?}: {why}")))
            .collect::<Result<_, _>>()?;
        Ok(Rule { hosts, paths, methods, networks, groups, policy: Policy::parse(&spec.policy)? })
    }

    /// What the rule asks.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Whether the request meets every condition but the groups.
    fn matches_request(&self, request: &Request<'_>) -> bool {
        self.hosts.iter().any(|h| h.matches(&request.host))
            && (self.paths.is_empty() || self.paths.iter().any(|p| p.is_match(&request.path)))
            && (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(request.method)))
            && (self.networks.is_empty()
                || request.client.is_some_and(|ip| self.networks.iter().any(|n| n.contains(&ip.to_canonical()))))
    }

    fn admits(&self, groups: &[GroupName]) -> bool {
        self.groups.is_empty() || self.groups.iter().any(|g| groups.contains(g))
    }

    /// Whether this rule matches every request `later` could: then `later`
    /// is never reached. Answers false when unsure (paths are compared as
    /// written, not as languages).
    fn shadows(&self, later: &Rule) -> bool {
        let hosts = later.hosts.iter().all(|h| self.hosts.iter().any(|mine| h.covered_by(mine)));
        let paths = self.paths.is_empty()
            || (!later.paths.is_empty()
                && later.paths.iter().all(|p| self.paths.iter().any(|mine| mine.as_str() == p.as_str())));
        let methods = self.methods.is_empty()
            || (!later.methods.is_empty() && later.methods.iter().all(|m| self.methods.contains(m)));
        let networks = self.networks.is_empty()
            || (!later.networks.is_empty()
                && later.networks.iter().all(|n| self.networks.iter().any(|mine| mine.contains(n))));
        let groups = self.groups.is_empty()
            || (!later.groups.is_empty() && later.groups.iter().all(|g| self.groups.contains(g)));
        hosts && paths && methods && networks && groups
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self.hosts.iter().map(ToString::to_string).collect();
        write!(f, "domain {}", hosts.join(", "))?;
        if !self.paths.is_empty() {
            let paths: Vec<&str> = self.paths.iter().map(Regex::as_str).collect();
            write!(f, ", paths {}", paths.join(", "))?;
        }
        if !self.methods.is_empty() {
            write!(f, ", methods {}", self.methods.join(", "))?;
        }
        if !self.networks.is_empty() {
            let networks: Vec<String> = self.networks.iter().map(ToString::to_string).collect();
            write!(f, ", networks {}", networks.join(", "))?;
        }
        if !self.groups.is_empty() {
            let groups: Vec<&str> = self.groups.iter().map(GroupName::as_str).collect();
            write!(f, ", groups {}", groups.join(", "))?;
        }
        write!(f, ": {}", self.policy.as_str())
    }
}

/// `10.0.0.0/8`, or one address (a network of one).
fn parse_network(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("network {raw:?} is not an address or ADDRESS/PREFIX"))
}

/// The request a proxy asks about.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The original host, folded to lower case, without port or final dot.
    host: String,
    /// The original path, without the query, percent-decoded as the
    /// application will read it (see [`decode_path`]).
    path: String,
    /// The original method.
    method: &'a str,
    /// The client's address, if known.
    client: Option<IpAddr>,
}

impl<'a> Request<'a> {
    /// A request to `host` (a port and a final dot are dropped, case
    /// folded) for `path` as it was sent (percent-encoded): a path whose
    /// decoded form is ambiguous is refused (see [`decode_path`]).
    pub fn new(host: &str, path: &str, method: &'a str, client: Option<IpAddr>) -> Result<Self, AmbiguousPath> {
        Ok(Request { host: fold_host(host), path: decode_path(path)?, method, client })
    }

    /// The host, folded, without port.
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// A host as rules compare it: lower case, without port or final dot.
pub fn fold_host(host: &str) -> String {
    strip_port(host).trim_end_matches('.').to_ascii_lowercase()
}

/// A path that applications could read in two ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousPath;

impl fmt::Display for AmbiguousPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the path holds an encoded NUL, backslash or dot segment, which applications read differently")
    }
}

/// The path as the application reads it: percent-decoded once (so that
/// `/%61dmin` meets a rule on `^/admin`), invalid UTF-8 replaced. Refused:
/// a NUL, a backslash, or a `.`/`..` segment after decoding (`%2e%2e`,
/// `%2f..%2f`), which some applications resolve and others do not, so no
/// rule could say which page is meant.
pub fn decode_path(raw: &str) -> Result<String, AmbiguousPath> {
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let dot_segment = decoded.split('/').any(|segment| segment == "." || segment == "..");
    if decoded.contains(['\0', '\\']) || dot_segment {
        return Err(AmbiguousPath);
    }
    Ok(decoded.into_owned())
}

/// `host:port` → `host`, `[::1]:443` → `::1`; a bare IPv6 address stays whole.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Who asks: nobody, or a signed-in user with the groups and factors of
/// the session.
#[derive(Debug, Clone, Copy)]
pub enum Visitor<'a> {
    /// No session (or a dead one).
    Anonymous,
    /// A live session.
    SignedIn {
        /// The user's groups.
        groups: &'a [GroupName],
        /// Whether the account has MFA on.
        mfa_enabled: bool,
        /// Whether the session's sign-in passed a second factor.
        second_factor: bool,
    },
}

/// What forward authentication answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Let the request through.
    Allow,
    /// Sign in first (401, or a redirect to the sign-in page).
    SignIn,
    /// The rule needs a second factor and the account has none (403 with a
    /// link to turn MFA on).
    SetUpMfa,
    /// The rule needs a second factor the session did not pass (403: sign
    /// in again with the code).
    SignInWithSecondFactor,
    /// Refused (403).
    Deny,
}

/// The outcome and what decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to answer.
    pub outcome: Outcome,
    /// The rule that decided (its index, from 0); `None`: the default.
    pub rule: Option<usize>,
    /// The policy that decided.
    pub policy: Policy,
}

/// Something `config check` warns about: the rules parse, but do not do
/// what their author probably meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Rule `rule` can never match: rule `by`, earlier, matches all it could.
    Shadowed {
        /// The rule never reached (index from 0).
        rule: usize,
        /// The earlier rule that takes its requests.
        by: usize,
    },
    /// Every request is denied: the default denies and no rule lets anyone in.
    DeniesEverything,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Shadowed { rule, by } => write!(
                f,
                "access rule {} can never match: rule {}, before it, matches every request it could",
                rule + 1,
                by + 1
            ),
            Warning::DeniesEverything => {
                f.write_str("every request is denied: default_policy is deny and no access rule allows anyone")
            }
        }
    }
}

/// The rules in order, and the default.
#[derive(Debug, Clone)]
pub struct AccessRules {
    rules: Vec<Rule>,
    default: Policy,
}

impl AccessRules {
    /// The rules, first match wins, and the policy when none matches.
    pub fn new(rules: Vec<Rule>, default: Policy) -> Self {
        AccessRules { rules, default }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The policy when no rule matches.
    pub fn default_policy(&self) -> Policy {
        self.default
    }

    /// Decides a request: the first rule that matches it (a rule with
    /// groups matches a signed-in user only when the user is in one of
    /// them, and sends an anonymous visitor to sign in), else the default.
    pub fn decide(&self, request: &Request<'_>, visitor: Visitor<'_>) -> Decision {
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule.matches_request(request) {
                continue;
            }
            match visitor {
                Visitor::Anonymous if !rule.groups.is_empty() => {
                    return Decision { outcome: Outcome::SignIn, rule: Some(index), policy: rule.policy };
                }
                Visitor::SignedIn { groups, .. } if !rule.admits(groups) => continue,
                _ => {
                    return Decision { outcome: outcome(rule.policy, visitor), rule: Some(index), policy: rule.policy }
                }
            }
        }
        Decision { outcome: outcome(self.default, visitor), rule: None, policy: self.default }
    }

    /// What `config check` should point out.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        for (later, rule) in self.rules.iter().enumerate() {
            if let Some(by) = self.rules[..later].iter().position(|earlier| earlier.shadows(rule)) {
                warnings.push(Warning::Shadowed { rule: later, by });
            }
        }
        if self.default == Policy::Deny && self.rules.iter().all(|r| r.policy == Policy::Deny) {
            warnings.push(Warning::DeniesEverything);
        }
        warnings
    }
}

fn outcome(policy: Policy, visitor: Visitor<'_>) -> Outcome {
    match (policy, visitor) {
        (Policy::Deny, _) => Outcome::Deny,
        (Policy::Bypass, _) => Outcome::Allow,
        (_, Visitor::Anonymous) => Outcome::SignIn,
        (Policy::OneFactor, Visitor::SignedIn { .. }) => Outcome::Allow,
        // MFA first: a session that passed a code before MFA was turned
        // off belongs to an account without MFA now.
        (Policy::TwoFactor, Visitor::SignedIn { mfa_enabled: false, .. }) => Outcome::SetUpMfa,
        (Policy::TwoFactor, Visitor::SignedIn { second_factor: true, .. }) => Outcome::Allow,
        (Policy::TwoFactor, Visitor::SignedIn { .. }) => Outcome::SignInWithSecondFactor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(domains: &[&str], policy: &str) -> RuleSpec {
        RuleSpec {
            domains: domains.iter().map(ToString::to_string).collect(),
            policy: policy.into(),
            ..RuleSpec::default()
        }
    }

    fn rules(specs: &[RuleSpec], default: Policy) -> AccessRules {
        AccessRules::new(specs.iter().map(|s| Rule::parse(s).unwrap()).collect(), default)
    }

    fn groups(names: &[&str]) -> Vec<GroupName> {
        names.iter().map(|n| GroupName::parse(n).unwrap()).collect()
    }

    fn user(groups: &[GroupName], mfa: bool) -> Visitor<'_> {
        Visitor::SignedIn { groups, mfa_enabled: mfa, second_factor: mfa }
    }

    fn get(host: &str, path: &'static str) -> Request<'static> {
        Request::new(host, path, "GET", Some("192.0.2.7".parse().unwrap())).unwrap()
    }

    #[test]
    fn hosts_match_exactly_or_by_one_wildcard_label_without_port_or_case() {
        let access = rules(&[rule(&["*.example.com"], "bypass"), rule(&["example.com"], "one_factor")], Policy::Deny);
        let decide = |host| access.decide(&get(host, "/"), Visitor::Anonymous);
        assert_eq!(decide("wiki.example.com").rule, Some(0));
        assert_eq!(decide("Wiki.Example.COM:8443").rule, Some(0));
        assert_eq!(decide("wiki.example.com.").rule, Some(0));
        assert_eq!(decide("example.com").rule, Some(1));
        assert_eq!(decide("a.wiki.example.com").rule, None);
        assert_eq!(decide("evilexample.com").rule, None);
        assert_eq!(decide("wiki.example.com.evil.org").rule, None);
        assert_eq!(decide(".example.com").rule, None);
    }

    #[test]
    fn paths_methods_and_networks_are_conditions() {
        let mut public = rule(&["app.example.com"], "bypass");
        public.paths = vec!["^/api/public/".into()];
        public.methods = vec!["get".into(), "HEAD".into()];
        let mut office = rule(&["app.example.com"], "one_factor");
        office.networks = vec!["10.0.0.0/8".into(), "2001:db8::1".into()];
        let access = rules(&[public, office], Policy::TwoFactor);
        let at = |path, method, ip: &str| {
            access
                .decide(&Request::new("app.example.com", path, method, ip.parse().ok()).unwrap(), Visitor::Anonymous)
                .rule
        };
        assert_eq!(at("/api/public/x", "GET", "192.0.2.1"), Some(0));
        assert_eq!(at("/api/public/x", "POST", "192.0.2.1"), None);
        assert_eq!(at("/api/private", "GET", "192.0.2.1"), None);
        assert_eq!(at("/x", "GET", "10.1.2.3"), Some(1));
        assert_eq!(at("/x", "GET", "::ffff:10.1.2.3"), Some(1), "a v4-mapped address is the v4 address");
        assert_eq!(at("/x", "GET", "2001:db8::1"), Some(1));
        assert_eq!(at("/x", "GET", "2001:db8::2"), None);
        assert_eq!(at("/x", "GET", "not an address"), None, "an unknown client is in no network");
    }

    #[test]
    fn paths_are_matched_as_the_application_reads_them() {
        let mut admin = rule(&["app.example.com"], "deny");
        admin.paths = vec!["^/admin".into()];
        let access = rules(&[admin], Policy::Bypass);
        let decide = |path| {
            Request::new("app.example.com", path, "GET", None).map(|r| access.decide(&r, Visitor::Anonymous).rule)
        };
        assert_eq!(decide("/admin/x"), Ok(Some(0)));
        assert_eq!(decide("/%61dmin/x"), Ok(Some(0)), "percent-encoded letters");
        assert_eq!(decide("/%2561dmin"), Ok(None), "decoded once, as the application does");
        for ambiguous in ["/public/%2e%2e/admin", "/public%2f..%2fadmin", "/a/./b", "/a%5cadmin", "/a%00b", "/.."] {
            assert_eq!(decide(ambiguous), Err(AmbiguousPath), "{ambiguous}");
        }
        assert_eq!(decide("/caf%C3%A9/%FF"), Ok(None), "invalid UTF-8 is no error");
    }

    #[test]
    fn policies_decide_by_who_asks() {
        let access = rules(
            &[
                rule(&["open.example.com"], "bypass"),
                rule(&["one.example.com"], "one_factor"),
                rule(&["two.example.com"], "two_factor"),
                rule(&["closed.example.com"], "deny"),
            ],
            Policy::Deny,
        );
        let none = groups(&[]);
        let password_only = Visitor::SignedIn { groups: &none, mfa_enabled: true, second_factor: false };
        let mfa_turned_off = Visitor::SignedIn { groups: &none, mfa_enabled: false, second_factor: true };
        let table = [
            ("open", Visitor::Anonymous, Outcome::Allow),
            ("one", Visitor::Anonymous, Outcome::SignIn),
            ("one", user(&none, false), Outcome::Allow),
            ("two", Visitor::Anonymous, Outcome::SignIn),
            ("two", user(&none, false), Outcome::SetUpMfa),
            ("two", password_only, Outcome::SignInWithSecondFactor),
            ("two", user(&none, true), Outcome::Allow),
            ("two", mfa_turned_off, Outcome::SetUpMfa),
            ("closed", user(&none, true), Outcome::Deny),
            ("closed", Visitor::Anonymous, Outcome::Deny),
            ("unlisted", user(&none, true), Outcome::Deny),
        ];
        for (host, visitor, expected) in table {
            let host = format!("{host}.example.com");
            assert_eq!(access.decide(&get(&host, "/"), visitor).outcome, expected, "{host} {visitor:?}");
        }
    }

    #[test]
    fn a_group_rule_passes_non_members_to_the_next_rule_and_sends_visitors_to_sign_in() {
        let mut admins = rule(&["admin.example.com"], "two_factor");
        admins.groups = vec!["Admins".into()];
        let access = rules(&[admins, rule(&["admin.example.com"], "deny")], Policy::OneFactor);
        let (admin, other) = (groups(&["admins", "staff"]), groups(&["staff"]));
        let decide = |visitor| access.decide(&get("admin.example.com", "/"), visitor);
        assert_eq!(
            decide(user(&admin, true)),
            Decision { outcome: Outcome::Allow, rule: Some(0), policy: Policy::TwoFactor }
        );
        assert_eq!(
            decide(user(&other, true)),
            Decision { outcome: Outcome::Deny, rule: Some(1), policy: Policy::Deny }
        );
        assert_eq!(decide(Visitor::Anonymous).outcome, Outcome::SignIn);
        assert_eq!(decide(Visitor::Anonymous).rule, Some(0));
    }

    #[test]
    fn the_default_decides_when_no_rule_matches_and_denies_by_default() {
        let access = rules(&[], Policy::Deny);
        let none = groups(&[]);
        let decision = access.decide(&get("x.example.com", "/"), user(&none, true));
        assert_eq!(decision, Decision { outcome: Outcome::Deny, rule: None, policy: Policy::Deny });
        assert_eq!(access.warnings(), vec![Warning::DeniesEverything]);
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let mut spec = rule(&["*.example.com"], "two_factor");
        for (field, bad) in [("paths", "(unclosed"), ("methods", "GET /"), ("networks", "10.0.0.0/33"), ("groups", "a")]
        {
            let mut broken = spec.clone();
            match field {
                "paths" => broken.paths = vec![bad.into()],
                "methods" => broken.methods = vec![bad.into()],
                "networks" => broken.networks = vec![bad.into()],
                _ => broken.groups = vec![bad.into()],
            }
            assert!(Rule::parse(&broken).is_err(), "{field} {bad}");
        }
        for domain in ["", "*", "a.*.example.com", "exa mple.com", "https://example.com"] {
            assert!(Rule::parse(&rule(&[domain], "bypass")).is_err(), "{domain:?}");
        }
        assert!(Rule::parse(&rule(&[], "bypass")).is_err());
        spec.policy = "allow".into();
        assert!(Rule::parse(&spec).unwrap_err().contains("unknown policy"));
    }

    #[test]
    fn config_check_names_rules_an_earlier_rule_takes_every_request_of() {
        let mut narrow = rule(&["wiki.example.com"], "bypass");
        narrow.methods = vec!["GET".into()];
        narrow.paths = vec!["^/public/".into()];
        let mut other_path = narrow.clone();
        other_path.paths = vec!["^/other/".into()];
        let access = rules(
            &[rule(&["*.example.com"], "two_factor"), narrow, rule(&["example.com"], "one_factor"), other_path],
            Policy::Deny,
        );
        assert_eq!(access.warnings(), vec![Warning::Shadowed { rule: 1, by: 0 }, Warning::Shadowed { rule: 3, by: 0 }]);

        let mut scoped = rule(&["*.example.com"], "two_factor");
        scoped.groups = vec!["admins".into()];
        let mut public = rule(&["wiki.example.com"], "bypass");
        public.paths = vec!["^/public/".into()];
        let access = rules(&[scoped, public.clone(), public], Policy::Deny);
        assert_eq!(access.warnings(), vec![Warning::Shadowed { rule: 2, by: 1 }], "a group rule shadows no open rule");
    }
}
