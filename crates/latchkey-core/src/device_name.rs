//! A short name for the device a request came from ("Chrome on Linux"), as
//! pages and notice mails show it. The `User-Agent` header is whatever the
//! client wrote, so it is never shown as sent: only names from the lists
//! below, or the product token when it is a short word of plain characters.

/// Browsers, most specific first (Edge's agent names Chrome and Safari too,
/// Chrome's names Safari).
const BROWSERS: [(&str, &str); 6] = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
];

/// Systems, most specific first (Android's agent names Linux, the iPhone's Mac OS).
const SYSTEMS: [(&str, &str); 7] = [
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
];

/// The longest product token shown when no list knows the agent.
const PRODUCT_MAX: usize = 24;

/// "Chrome on Linux", "Firefox", "iPhone", "python-requests", or
/// "Unknown device".
pub fn short_name(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else { return "Unknown device".into() };
    let find = |list: &[(&str, &'static str)]| list.iter().find(|(needle, _)| ua.contains(needle)).map(|(_, n)| *n);
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(name), None) | (None, Some(name)) => name.to_string(),
        (None, None) => product(ua).unwrap_or("Unknown device").to_string(),
    }
}

/// The product token ("python-requests" of "python-requests/2.31"): a
/// short word of letters, digits, dots, dashes and underscores, followed
/// by a version as RFC 9110's `product/version` has it.
fn product(ua: &str) -> Option<&str> {
    let (token, _version) = ua.split_once('/')?;
    let plain = token.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    (plain && !token.is_empty() && token.len() <= PRODUCT_MAX).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn browsers_and_systems_are_named_as_people_know_them() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on macOS"),
            ("curl/8.5.0", "curl"),
            ("python-requests/2.31.0", "python-requests"),
        ];
        for (agent, name) in cases {
            assert_eq!(short_name(Some(agent)), name, "{agent}");
        }
        assert_eq!(short_name(None), "Unknown device");
    }

    #[test]
    fn attacker_text_is_never_shown() {
        for agent in [
            "Click https://evil.example to secure your account",
            "<script>alert(1)</script>",
            "\"a>,b\"<x@evil.com>",
            "averyveryverylongproductnamethatgoesonandon/1.0",
            "",
        ] {
            assert_eq!(short_name(Some(agent)), "Unknown device", "{agent}");
        }
    }
}
