//! Keeping a manifest's secrets secret: credential errors that never quote the value, and
//! warnings in words when credentials would cross the network unencrypted.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Manifest, Source};

/// Manifest fields whose values may be secrets: a type error there must not quote them.
const SECRET_PATHS: &[(&str, &str)] = &[
    ("source.credentials.username", "text (a JSON string)"),
    ("source.credentials.password", "text (a JSON string)"),
    ("source.credentials.token", "text (a JSON string)"),
    (
        "source.credentials",
        "an object with \"username\", \"password\" and/or \"token\"",
    ),
    ("source.onOpen", "text (a JSON string)"),
];

/// The message for a serde error at `path` when `path` holds a secret: it names the path, the
/// type expected and the type found, never the value. `None` for other paths, and for errors
/// that do not concern the value (a duplicate field), whose serde message quotes none.
pub(super) fn secret_type_error(path: &str, serde_message: &str, bytes: &[u8]) -> Option<String> {
    let (_, expected) = SECRET_PATHS.iter().find(|(p, _)| *p == path)?;
    if !(serde_message.contains("invalid type")
        || serde_message.contains("invalid value")
        || serde_message.contains("invalid length"))
    {
        return None;
    }
    let pointer = format!("/{}", path.replace('.', "/"));
    let found = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|doc| doc.pointer(&pointer).map(kind));
    Some(match found {
        Some(found) => format!(
            "expected {expected}, found {found} (the value is not repeated here: it may be a secret)"
        ),
        None => format!("expected {expected} (the value is not repeated here: it may be a secret)"),
    })
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "text",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl Manifest {
    /// Warnings in words about how the manifest handles secrets: credentials, or a token in
    /// the URL, sent over unencrypted `ws://` to a host other than this machine. Empty when
    /// there is nothing to say. A source URL that is a path (`/ws/sim`) takes the page's
    /// scheme: check it with [`Source::security_warnings_for`] once resolved.
    pub fn security_warnings(&self) -> Vec<String> {
        match &self.source {
            Some(src) => src.security_warnings_for(&src.url),
            None => Vec::new(),
        }
    }
}

impl Manifest {
    /// The secrets this twin carries, to mask in every shown text: its source's password and
    /// token (a user name is not a secret) and the secret query values of its URLs.
    pub fn secrets(&self) -> crate::redact::Secrets {
        let mut s = crate::redact::Secrets::default();
        if let Some(source) = &self.source {
            if let Some(c) = &source.credentials {
                for v in [&c.password, &c.token].into_iter().flatten() {
                    s.add(v);
                }
            }
            s.add_from_url(&source.url);
        }
        s.add_from_url(&self.model.url);
        s
    }
}

impl Source {
    /// [`Manifest::security_warnings`] for this source connected at `socket_url` (its URL
    /// made absolute). The warning names the scheme, host and port only, never a secret.
    pub fn security_warnings_for(&self, socket_url: &str) -> Vec<String> {
        let url = socket_url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Vec::new();
        };
        if !scheme.eq_ignore_ascii_case("ws") {
            return Vec::new();
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or(authority);
        if is_loopback_host(host_of(host_port)) {
            return Vec::new();
        }
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        let creds = self.credentials.as_ref();
        let mut carried = Vec::new();
        if creds.is_some_and(|c| set(&c.password)) {
            carried.push("the password");
        }
        if creds.is_some_and(|c| set(&c.token)) {
            carried.push("the token");
        }
        if url_has_secret(url) {
            carried.push("a secret in the URL");
        }
        if carried.is_empty() {
            return Vec::new();
        }
        let what = match carried.as_slice() {
            [one] => (*one).to_owned(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
            [] => String::new(),
        };
        vec![format!(
            "source.url: ws://{host_port} is not encrypted, yet {what} would be sent over it: anyone on the network between here and {} can read it; use wss:// (TLS)",
            host_of(host_port)
        )]
    }
}

/// The host of `host[:port]` (an IPv6 literal keeps its brackets off).
fn host_of(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

/// Whether `host` is this machine: `localhost` (and `*.localhost`), `127.0.0.0/8`, `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    let lower = h.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    lower == "localhost"
        || lower.ends_with(".localhost")
        || lower.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || lower.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback())
}

/// Whether `url` carries a secret itself: a password in its user info
/// (`ws://user:pass@host`) or a secret-looking query parameter (`?access_token=…`).
pub fn url_has_secret(url: &str) -> bool {
    let before_fragment = url.split('#').next().unwrap_or(url);
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let authority = base
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    let password_in_user_info = authority.rsplit_once('@').is_some_and(|(user_info, _)| {
        user_info
            .split_once(':')
            .is_some_and(|(_, p)| !p.is_empty())
    });
    let secret_param = query.is_some_and(|q| {
        q.split('&').any(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            !v.is_empty() && crate::redact::is_secret_param(k)
        })
    });
    password_in_user_info || secret_param
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_this_machine() {
        for h in [
            "localhost",
            "LOCALHOST",
            "app.localhost",
            "127.0.0.1",
            "127.8.9.10",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "plant.example",
            "10.0.0.5",
            "localhost.example",
            "128.0.0.1",
            "[::2]",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn secrets_in_urls_are_found_in_user_info_and_query() {
        assert!(url_has_secret("ws://u:p@h/x"));
        assert!(url_has_secret("ws://h/x?a=1&access_token=abc"));
        assert!(url_has_secret("ws://h/x?X-Amz-Signature=abc"));
        assert!(!url_has_secret("ws://u@h/x"));
        assert!(!url_has_secret("ws://h/x?token="));
        assert!(!url_has_secret("ws://h/x?topic=a#token=b"));
        assert_eq!(host_of("[::1]:9001"), "::1");
        assert_eq!(host_of("plant:9001"), "plant");
    }
}
