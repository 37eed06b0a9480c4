//! `rd`: where a sign-in sends the browser back to (the protected page that
//! forward authentication sent to sign in, or an OpenID authorize request).
//! Followed only to this service or to a host under `cookie_domain`, over
//! https or the public URL's own scheme, on the public URL's port or the
//! scheme's default: anything else is ignored, so the sign-in page is
//! never an open redirect.

use url::Url;

use super::WebSettings;

/// The longest `rd` considered: a URL longer than this is no page of ours.
const MAX_LENGTH: usize = 4096;

/// `rd` as the URL to send the browser to, when it may be followed. The
/// answer is the parsed URL written out again (never the raw text), so what
/// the browser is sent to is exactly what was checked.
pub fn checked(rd: &str, web: &WebSettings) -> Option<String> {
    if rd.is_empty() || rd.len() > MAX_LENGTH {
        return None;
    }
    let public = &web.public_url;
    let base = Url::parse(public.origin()).ok()?;
    // Relative forms (`/wiki`) are this service's; `//evil`, `\\evil` and
    // `https:evil` resolve to another host here and are refused below.
    let url = base.join(rd).ok()?;
    let scheme_ok = url.scheme() == "https" || url.scheme() == base.scheme();
    let no_userinfo = url.username().is_empty() && url.password().is_none();
    let host = url.host_str()?.to_ascii_lowercase();
    let host_ok = host == public.host()
        || web
            .cookie_domain
            .as_deref()
            .is_some_and(|domain| host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.')));
    let port = url.port_or_known_default();
    let port_ok = port == public.port() || port == default_port(url.scheme());
    (scheme_ok && no_userinfo && host_ok && port_ok).then(|| url.to_string())
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PublicUrl;

    fn web(public: &str, cookie_domain: Option<&str>) -> WebSettings {
        WebSettings {
            public_url: PublicUrl::parse(public).unwrap(),
            cookie_domain: cookie_domain.map(str::to_string),
            ..WebSettings::for_tests()
        }
    }

    #[test]
    fn pages_under_the_cookie_domain_and_of_this_service_are_followed() {
        let web = web("https://auth.example.com", Some("example.com"));
        for (rd, to) in [
            ("https://wiki.example.com/page?x=1#top", "https://wiki.example.com/page?x=1#top"),
            ("https://example.com/", "https://example.com/"),
            ("https://WIKI.example.com:443/a", "https://wiki.example.com/a"),
            ("/oauth2/authorize?client_id=x", "https://auth.example.com/oauth2/authorize?client_id=x"),
            ("https://wiki.example.com/%2f%2fevil.org", "https://wiki.example.com/%2f%2fevil.org"),
        ] {
            assert_eq!(checked(rd, &web).as_deref(), Some(to), "{rd}");
        }
    }

    #[test]
    fn every_other_place_is_ignored() {
        let web = web("https://auth.example.com", Some("example.com"));
        for rd in [
            "https://evil.org/",
            "//evil.org/",
            "///evil.org/",
            "\\\\evil.org",
            "/\\evil.org",
            "https://example.com.evil.org/",
            "https://evilexample.com/",
            "https://wiki.example.com@evil.org/",
            "https://user:pass@wiki.example.com/",
            "https://wiki.example.com%2f@evil.org/",
            "http://wiki.example.com/",
            "https://wiki.example.com:8443/",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://wiki.example.com/",
            "https://[::1]/",
            "https://127.0.0.1/",
            "",
        ] {
            assert_eq!(checked(rd, &web), None, "{rd}");
        }
        assert_eq!(checked(&format!("/{}", "a".repeat(MAX_LENGTH)), &web), None, "too long");
        // A scheme without slashes is relative to the base (as a browser
        // reads it in a Location header): a path on this service.
        for rd in ["https:evil.org", "https:/evil.org"] {
            assert_eq!(checked(rd, &web).as_deref(), Some("https://auth.example.com/evil.org"), "{rd}");
        }
    }

    #[test]
    fn without_a_cookie_domain_only_this_service_is_followed() {
        let web = web("http://127.0.0.1:8080", None);
        assert_eq!(checked("/dashboard", &web).as_deref(), Some("http://127.0.0.1:8080/dashboard"));
        assert_eq!(checked("http://127.0.0.1:9090/", &web), None, "another port");
        assert_eq!(checked("http://localhost:8080/", &web), None, "another host");
    }
}
