//! Keeping secrets out of every text the page shows or reports.
//!
//! Anything shown (status line, detail card, XR HUD, `stats()`, console) may quote a URL or a
//! message from a browser, a server or a parser. [`scrub`] rewrites such text so that no
//! credential survives: the password of `scheme://user:pass@host`, the values of secret query
//! parameters (`access_token`, `token`, `apikey`, `key`, `password`, `sig`, `X-Amz-*`, …) and
//! any literal secret the twin carries ([`Secrets`], from `Manifest::secrets`), plain or
//! percent-encoded. A leaf module: it knows no manifest, so every layer may use it.

/// What replaces a secret.
pub const MASK: &str = "***";

/// Secrets shorter than this are not searched for as literal text (a one-letter password would
/// mask every word that contains the letter); URL and query redaction still applies to them.
const MIN_LITERAL: usize = 3;

/// Query parameters whose values are secrets (compared without case).
const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "accesstoken",
    "id_token",
    "refresh_token",
    "token",
    "jwt",
    "jwttoken",
    "apikey",
    "api_key",
    "api-key",
    "key",
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "client_secret",
    "sig",
    "signature",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "session",
    "sessionid",
];

/// Endings that make a parameter name secret (`api_token`, `client_secret`, `url_signature`).
const SECRET_SUFFIXES: &[&str] = &[
    "token",
    "secret",
    "signature",
    "password",
    "apikey",
    "api_key",
];

/// Whether the query parameter `key` holds a secret.
pub fn is_secret_param(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.starts_with("x-amz-")
        || lower.starts_with("x-goog-")
        || SECRET_PARAMS.contains(&lower.as_str())
        || SECRET_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// Literal secret values to mask wherever they appear.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    values: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.values.len())
    }
}

impl Secrets {
    /// Adds one secret value (and its percent-encoded form).
    pub fn add(&mut self, value: &str) {
        if value.len() < MIN_LITERAL {
            return;
        }
        for v in [value.to_owned(), percent_encode(value)] {
            if !self.values.contains(&v) {
                self.values.push(v);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// Adds the password in `url`'s user info and the values of its secret query parameters.
    pub fn add_from_url(&mut self, url: &str) {
        if let Some((_, rest)) = url.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if let Some((info, _)) = authority.rsplit_once('@')
                && let Some((_, pass)) = info.split_once(':')
            {
                self.add(pass);
            }
        }
        if let Some((_, query)) = url.split_once('?') {
            let query = query.split('#').next().unwrap_or("");
            for kv in query.split('&') {
                if let Some((k, v)) = kv.split_once('=')
                    && is_secret_param(k)
                {
                    self.add(v);
                }
            }
        }
    }

    /// Adds every secret of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        for v in &other.values {
            if !self.values.contains(v) {
                self.values.push(v.clone());
            }
        }
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// Whether no literal secret is known.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// `text` with every credential masked: literal `secrets`, user-info passwords and secret query
/// values. Text without any is returned unchanged.
pub fn scrub(text: &str, secrets: &Secrets) -> String {
    let mut out = text.to_owned();
    for v in &secrets.values {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), MASK);
        }
    }
    let out = scrub_user_info(&out);
    scrub_query_values(&out)
}

/// Characters that end a URL embedded in prose or JSON.
fn ends_url(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | '<' | '>' | '`' | '(' | ')' | '[' | ']' | ','
        )
}

/// `scheme://user:pass@host` → `scheme://user:***@host`, anywhere in `text`.
fn scrub_user_info(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| ends_url(c) || matches!(c, '/' | '?' | '#'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((info, host)) => {
                match info.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    // A bare user name may itself be a token (`https://TOKEN@host`).
                    None if info.len() >= 16 => out.push_str(MASK),
                    None => out.push_str(info),
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Characters that end a query value: the next parameter, the fragment, or the end of the URL
/// in prose or JSON.
fn ends_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, '&' | '#' | ';' | '"' | '\'' | '<' | '>' | '`')
}

/// `?token=abc&x=1` → `?token=***&x=1`: every `key=value` after a `?`, `&`, `;` or `#` whose
/// key is secret, anywhere in `text`.
fn scrub_query_values(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b'?' | b'&' | b';' | b'#') {
            let key_start = i + 1;
            let key_end = text[key_start..]
                .find(|c: char| c == '=' || ends_url(c) || matches!(c, '&' | '#' | '?' | ';'))
                .map_or(text.len(), |n| key_start + n);
            if key_end < text.len()
                && bytes[key_end] == b'='
                && key_end > key_start
                && is_secret_param(&text[key_start..key_end])
            {
                let value_start = key_end + 1;
                let value_end = text[value_start..]
                    .find(ends_value)
                    .map_or(text.len(), |n| value_start + n);
                if value_end > value_start && &text[value_start..value_end] != MASK {
                    out.push_str(&text[copied..value_start]);
                    out.push_str(MASK);
                    copied = value_end;
                }
                i = value_end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Secrets {
        Secrets::default()
    }

    #[test]
    fn user_info_password_is_masked_in_prose() {
        assert_eq!(
            scrub(
                "cannot open wss://ops:hunter2@broker.site:8884/mqtt: refused",
                &none()
            ),
            "cannot open wss://ops:***@broker.site:8884/mqtt: refused"
        );
        assert_eq!(
            scrub("\"ws://a:b@h/\" and http://x:y@z", &none()),
            "\"ws://a:***@h/\" and http://x:***@z"
        );
    }

    #[test]
    fn long_bare_user_info_is_treated_as_a_token() {
        assert_eq!(
            scrub("https://ghp_abcdefghijklmnop1234@host/x", &none()),
            "https://***@host/x"
        );
        assert_eq!(scrub("https://ops@host/x", &none()), "https://ops@host/x");
    }

    #[test]
    fn secret_query_values_are_masked_and_others_kept() {
        let text =
            "GET wss://d.site/ws/2?access_token=eyJ.a.b&x=1&TOKEN=t0k&apikey=k1;key=k2 failed";
        assert_eq!(
            scrub(text, &none()),
            "GET wss://d.site/ws/2?access_token=***&x=1&TOKEN=***&apikey=***;key=*** failed"
        );
        let amz = "https://bucket.s3/m.glb?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc&v=2";
        assert_eq!(
            scrub(amz, &none()),
            "https://bucket.s3/m.glb?X-Amz-Credential=***&X-Amz-Signature=***&v=2"
        );
        assert_eq!(scrub("?sig=zz#frag", &none()), "?sig=***#frag");
        assert_eq!(
            scrub("m.json#access_token=abc", &none()),
            "m.json#access_token=***"
        );
        assert_eq!(scrub("?sig=abc,def(x) ok", &none()), "?sig=*** ok");
        assert_eq!(
            scrub(
                "g.glb?X-Goog-Signature=f00&api_token=t&client_secret=s&url=x",
                &none()
            ),
            "g.glb?X-Goog-Signature=***&api_token=***&client_secret=***&url=x"
        );
        assert_eq!(
            scrub("?password=p&monkey=1", &none()),
            "?password=***&monkey=1"
        );
    }

    #[test]
    fn literal_secrets_are_masked_plain_and_percent_encoded() {
        let mut s = Secrets::default();
        s.add("p@ss word");
        s.add("12345");
        assert_eq!(
            scrub("invalid type: integer `12345`, expected a string", &s),
            "invalid type: integer `***`, expected a string"
        );
        assert_eq!(scrub("x=p%40ss%20word!", &s), "x=***!");
        assert_eq!(scrub("said p@ss word", &s), "said ***");
    }

    #[test]
    fn short_secrets_are_not_searched_as_text() {
        let mut s = Secrets::default();
        s.add("ab");
        assert!(s.is_empty());
        assert_eq!(scrub("about a tab", &s), "about a tab");
    }

    #[test]
    fn secrets_from_urls_cover_user_info_and_query() {
        let mut s = Secrets::default();
        s.add_from_url("wss://u:s3cret@h:1/p?token=abc123&v=1#f");
        assert_eq!(
            scrub("s3cret and abc123 and v=1", &s),
            "*** and *** and v=1"
        );
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        for t in [
            "",
            "reconnecting in 3 s (attempt 4): closed (code 1006)",
            "https://site/a?b=c&d=e",
            "a://",
            "?=&=",
            "ünïcödé ?token",
        ] {
            assert_eq!(scrub(t, &none()), t);
        }
    }

    #[test]
    fn debug_never_prints_values() {
        let mut s = Secrets::default();
        s.add("topsecret");
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
