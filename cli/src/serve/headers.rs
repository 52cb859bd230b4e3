//! The headers every response carries: the Content-Security-Policy of the site configuration,
//! the other browser hardening headers, and the cache policy (manifests and the site
//! configuration are never stored, so a changed allow-list or twin applies on the next load;
//! everything else is revalidated, so a rebuilt app is picked up on reload).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Where the site configuration is served.
pub const CONFIG_PATH: &str = "/twinlens.config.json";

/// The fixed hardening headers, with the CSP of the configuration being served.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    fixed: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// The headers with `csp` as the Content-Security-Policy; an error when it cannot be a
    /// header value (a control character in it).
    pub fn new(csp: &str) -> Result<Self, String> {
        let csp = HeaderValue::from_str(csp)
            .map_err(|_| format!("the Content-Security-Policy {csp:?} is not a valid header"))?;
        let fixed = vec![
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static("xr-spatial-tracking=(self)"),
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
        ];
        Ok(Self { fixed })
    }

    /// Sets the headers on the response to a request for `path`, replacing any already set.
    pub fn apply(&self, path: &str, headers: &mut HeaderMap) {
        for (name, value) in &self.fixed {
            headers.insert(name.clone(), value.clone());
        }
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_policy(path)),
        );
    }

    /// The headers as HTTP/1.1 header lines (each ending in CRLF), for canned responses.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.fixed {
            out.push_str(name.as_str());
            out.push_str(": ");
            out.push_str(&String::from_utf8_lossy(value.as_bytes()));
            out.push_str("\r\n");
        }
        out.push_str("cache-control: no-store\r\n");
        out
    }
}

/// `no-store` for twin manifests and the site configuration, `no-cache` for everything else.
pub fn cache_policy(path: &str) -> &'static str {
    if path.ends_with(".twin.json") || path == CONFIG_PATH {
        "no-store"
    } else {
        "no-cache"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_gets_the_headers_and_manifests_are_not_stored() {
        let headers = SecurityHeaders::new("default-src 'self'").unwrap();
        let mut map = HeaderMap::new();
        map.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=3600"),
        );
        headers.apply("/demo/pump-skid.twin.json", &mut map);
        assert_eq!(map["content-security-policy"], "default-src 'self'");
        assert_eq!(map["x-content-type-options"], "nosniff");
        assert_eq!(map["referrer-policy"], "no-referrer");
        assert_eq!(map["permissions-policy"], "xr-spatial-tracking=(self)");
        assert_eq!(map["cross-origin-opener-policy"], "same-origin");
        assert_eq!(map["cache-control"], "no-store");

        assert_eq!(cache_policy("/twinlens.config.json"), "no-store");
        assert_eq!(cache_policy("/"), "no-cache");
        assert_eq!(cache_policy("/twinlens_bg.wasm"), "no-cache");
        assert_eq!(cache_policy("/demo/pump-skid.glb"), "no-cache");
        assert_eq!(cache_policy("/a/twinlens.config.json"), "no-cache");

        let lines = headers.lines();
        assert!(
            lines.contains("x-content-type-options: nosniff\r\n"),
            "{lines}"
        );
        assert!(SecurityHeaders::new("a\nb").is_err());
    }
}
