//! Who may talk to the server: the exact `Host` names it answers to (a DNS-rebinding page
//! reaches it under the attacker's name and is refused) and the page origins that may open
//! `/ws/sim`. Both lists are printed at start; nothing matches by pattern except `*` origins.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::log::quote;

/// `--allow-host` and `--allow-origin` as given, checked before the server binds.
#[derive(Debug, Clone, Default)]
pub struct AllowLists {
    hosts: Vec<HostRule>,
    origins: Vec<Origin>,
    any_origin: bool,
}

/// An `--allow-host` entry: a name, and the one port it is allowed on (any when not given).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    name: String,
    port: Option<u16>,
}

/// A normalised web origin: lower-case scheme and host, explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl AllowLists {
    /// Parses the options; the error names the option and the entry and shows what is expected.
    pub fn parse(allow_host: &[String], allow_origin: &[String]) -> Result<Self, String> {
        let mut lists = Self::default();
        for entry in allow_host {
            let rule = split_authority(entry.trim())
                .filter(|(name, _)| is_host_name(name))
                .map(|(name, port)| HostRule { name, port })
                .ok_or_else(|| {
                    format!(
                        "--allow-host {} is not a host name like twin.example.com or \
                         twin.example.com:8443",
                        quote(entry)
                    )
                })?;
            if !lists.hosts.contains(&rule) {
                lists.hosts.push(rule);
            }
        }
        for entry in allow_origin {
            if entry.trim() == "*" {
                lists.any_origin = true;
            } else {
                let origin = parse_origin(entry).ok_or_else(|| {
                    format!(
                        "--allow-origin {} is not an origin like https://example.com:8443 \
                         (scheme, host and optional port, no path)",
                        quote(entry)
                    )
                })?;
                if !lists.origins.contains(&origin) {
                    lists.origins.push(origin);
                }
            }
        }
        Ok(lists)
    }
}

/// The allow-lists completed with the addresses the server bound.
#[derive(Debug, Clone)]
pub struct Access {
    scheme: &'static str,
    port: u16,
    /// Names and addresses that are this server at `port`: the bound address, or its LAN
    /// addresses when bound to all interfaces, and the loopback names.
    own: Vec<String>,
    lists: AllowLists,
}

impl Access {
    pub fn new(lists: AllowLists, tls: bool, bound: SocketAddr, lan: &[Ipv4Addr]) -> Self {
        let mut own: Vec<String> = Vec::new();
        let mut add = |name: String| {
            if !own.contains(&name) {
                own.push(name);
            }
        };
        if bound.ip().is_unspecified() {
            for ip in lan {
                add(ip.to_string());
            }
        } else {
            add(host_text(bound.ip()));
        }
        for name in ["127.0.0.1", "[::1]", "localhost"] {
            add(name.to_owned());
        }
        Self {
            scheme: if tls { "https" } else { "http" },
            port: bound.port(),
            own,
            lists,
        }
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" { 443 } else { 80 }
    }

    /// Ok when a request with this `Host` header (or absolute-form authority) is for this
    /// server; otherwise the reason, for the log and the refusal.
    pub fn check_host(&self, host: Option<&[u8]>) -> Result<(), String> {
        let Some(raw) = host else {
            return Err("a Host header is required".to_owned());
        };
        let text = String::from_utf8_lossy(raw);
        if let Some((name, port)) = split_authority(text.trim()) {
            let effective = port.unwrap_or(self.default_port());
            let own = effective == self.port && self.own.contains(&name);
            let listed = self
                .lists
                .hosts
                .iter()
                .any(|r| r.name == name && r.port.is_none_or(|p| p == effective));
            // A page origin we allow may be fronted by a proxy that forwards its Host.
            let origin = self
                .lists
                .origins
                .iter()
                .any(|o| o.host == name && port.is_none_or(|p| p == o.port));
            if own || listed || origin {
                return Ok(());
            }
        }
        Err(format!(
            "this server does not answer for host {}; it serves {} (if a proxy or DNS name \
             points here, restart twinlens serve with --allow-host NAME)",
            quote(&text),
            self.hosts().join(", ")
        ))
    }

    /// Ok when a page with this `Origin` header may open `/ws/sim`; otherwise why not. No
    /// header means no browser, which DNS rebinding and cross-site pages cannot arrange.
    pub fn check_origin(&self, origin: Option<&[u8]>) -> Result<(), String> {
        let Some(raw) = origin else {
            return Ok(());
        };
        if self.lists.any_origin {
            return Ok(());
        }
        let text = String::from_utf8_lossy(raw);
        if let Some(origin) = parse_origin(&text) {
            let own = origin.scheme == self.scheme
                && origin.port == self.port
                && self.own.contains(&origin.host);
            // Behind a TLS-terminating proxy the page is https while this server is http.
            let listed_host = self
                .lists
                .hosts
                .iter()
                .any(|r| r.name == origin.host && r.port.is_none_or(|p| p == origin.port));
            if own || listed_host || self.lists.origins.contains(&origin) {
                return Ok(());
            }
        }
        let shown = quote(&text);
        Err(format!(
            "origin {shown} may not open /ws/sim; allowed: {} (restart twinlens serve with \
             --allow-origin ORIGIN to allow another page)",
            self.origins().join(", ")
        ))
    }

    /// Whether pages of any origin may open `/ws/sim` (`--allow-origin *`).
    pub fn any_origin(&self) -> bool {
        self.lists.any_origin
    }

    /// The `Host` values served, as printed at start.
    pub fn hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .own
            .iter()
            .map(|name| format!("{name}:{}", self.port))
            .collect();
        for rule in &self.lists.hosts {
            out.push(match rule.port {
                Some(p) => format!("{}:{p}", rule.name),
                None => format!("{} (any port)", rule.name),
            });
        }
        for origin in &self.lists.origins {
            let entry = format!("{}:{}", origin.host, origin.port);
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
        out
    }

    /// The page origins that may open `/ws/sim`, as printed at start.
    pub fn origins(&self) -> Vec<String> {
        if self.lists.any_origin {
            return vec!["* (any origin)".to_owned()];
        }
        let mut out: Vec<String> = self
            .own
            .iter()
            .map(|name| format!("{}://{name}:{}", self.scheme, self.port))
            .collect();
        for rule in &self.lists.hosts {
            out.push(match rule.port {
                Some(p) => format!("http(s)://{}:{p}", rule.name),
                None => format!("http(s)://{} (any port)", rule.name),
            });
        }
        out.extend(self.lists.origins.iter().map(Origin::to_string));
        out
    }
}

/// An IP address as it appears in a Host header (IPv6 in brackets).
fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// A DNS name or IP literal: letters, digits, `-`, `.`, `_`, or `[v6]`.
fn is_host_name(name: &str) -> bool {
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// `scheme://host[:port]` with scheme http or https, nothing after the authority.
fn parse_origin(text: &str) -> Option<Origin> {
    let text = text.trim();
    let text = text.strip_suffix('/').unwrap_or(text);
    let (scheme, authority) = text.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (host, port) = split_authority(authority)?;
    Some(Origin {
        scheme,
        host,
        port: port.unwrap_or(default_port),
    })
}

/// `host[:port]` or `[v6][:port]`: the host lower-cased and the port if one is written.
fn split_authority(text: &str) -> Option<(String, Option<u16>)> {
    if text.is_empty() || text.contains(['/', '?', '#', '@', ' ', '\\']) {
        return None;
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{v6}]"), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (text.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" || (host.contains(':') && !host.starts_with('[')) {
        return None;
    }
    let port = match port {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(hosts: &[&str], origins: &[&str], tls: bool, bound: &str) -> Access {
        let hosts: Vec<String> = hosts.iter().map(|s| s.to_string()).collect();
        let origins: Vec<String> = origins.iter().map(|s| s.to_string()).collect();
        let lists = AllowLists::parse(&hosts, &origins).unwrap();
        let lan: Vec<Ipv4Addr> = vec!["192.168.1.20".parse().unwrap()];
        Access::new(lists, tls, bound.parse().unwrap(), &lan)
    }

    fn host(a: &Access, h: &str) -> bool {
        a.check_host(Some(h.as_bytes())).is_ok()
    }

    fn origin(a: &Access, o: &str) -> bool {
        a.check_origin(Some(o.as_bytes())).is_ok()
    }

    #[test]
    fn hosts_are_the_bound_address_and_loopback_names_on_its_port() {
        let a = access(&[], &[], false, "127.0.0.1:8080");
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(host(&a, ok), "{ok}");
        }
        for refused in [
            "attacker.example",
            "attacker.example:8080",
            "localhost",
            "localhost:8081",
            "127.0.0.1",
            "127.0.0.1:80",
            "192.168.1.20:8080",
            "localhost.attacker.example:8080",
            "localhost:8080@evil",
            "localhost:8080/",
            "localhost:+8080",
            "",
        ] {
            let reason = a.check_host(Some(refused.as_bytes())).unwrap_err();
            assert!(reason.contains("--allow-host"), "{reason}");
        }
        assert!(a.check_host(None).is_err());
        let reason = a.check_host(Some(b"evil\n\x1b[2J")).unwrap_err();
        assert!(
            !reason.contains('\n') && !reason.contains('\x1b'),
            "{reason}"
        );
    }

    #[test]
    fn all_interfaces_serve_the_lan_addresses_and_default_ports_count() {
        let a = access(&[], &[], true, "0.0.0.0:443");
        assert!(host(&a, "192.168.1.20"));
        assert!(host(&a, "192.168.1.20:443"));
        assert!(host(&a, "localhost"));
        assert!(!host(&a, "192.168.1.21"));
        assert!(!host(&a, "0.0.0.0"));
        assert!(origin(&a, "https://192.168.1.20"));
        assert!(!origin(&a, "http://192.168.1.20:443"), "scheme must match");
    }

    #[test]
    fn allow_host_and_allow_origin_add_names() {
        let a = access(
            &["twin.example.com", "proxy.lan:9000"],
            &["https://dash.example.com", "http://localhost:5173"],
            false,
            "127.0.0.1:8080",
        );
        assert!(host(&a, "twin.example.com"));
        assert!(host(&a, "twin.example.com:443"));
        assert!(host(&a, "proxy.lan:9000"));
        assert!(!host(&a, "proxy.lan:9001"));
        assert!(!host(&a, "proxy.lan"), "port 80 is not 9000");
        assert!(host(&a, "dash.example.com"));
        assert!(host(&a, "dash.example.com:443"));
        assert!(!host(&a, "dash.example.com:8443"));
        assert!(host(&a, "localhost:5173"));
        assert!(!host(&a, "sub.twin.example.com"));

        assert!(origin(&a, "https://twin.example.com"));
        assert!(origin(&a, "http://proxy.lan:9000"));
        assert!(origin(&a, "https://dash.example.com:443"));
        assert!(origin(&a, "http://localhost:5173"));
        assert!(!origin(&a, "http://dash.example.com"));
        let hosts = a.hosts();
        assert!(
            hosts.contains(&"twin.example.com (any port)".to_owned()),
            "{hosts:?}"
        );
        assert!(hosts.contains(&"proxy.lan:9000".to_owned()), "{hosts:?}");
    }

    #[test]
    fn origins_must_match_exactly_with_scheme_and_port() {
        let a = access(&[], &["https://twin.example.com"], false, "10.0.0.5:8080");
        assert!(a.check_origin(None).is_ok());
        for ok in [
            "http://10.0.0.5:8080",
            "http://localhost:8080",
            "HTTP://LOCALHOST:8080",
            "http://127.0.0.1:8080/",
            "http://[::1]:8080",
            "https://twin.example.com",
            "https://twin.example.com:443",
        ] {
            assert!(origin(&a, ok), "{ok}");
        }
        for refused in [
            "http://localhost:3000",
            "https://localhost:8080",
            "http://127.0.0.1:9999",
            "http://10.0.0.5:8081",
            "http://twin.example.com",
            "https://evil.example",
            "null",
            "http://localhost.evil.example:8080",
            "http://user@localhost:8080",
            "file://",
        ] {
            assert!(!origin(&a, refused), "{refused}");
        }
        let reason = a.check_origin(Some(b"https://evil.example")).unwrap_err();
        assert!(reason.contains("--allow-origin"), "{reason}");
        assert!(reason.contains("\"https://evil.example\""), "{reason}");

        let any = access(&[], &["*"], false, "10.0.0.5:8080");
        assert!(origin(&any, "https://a.b"));
        assert!(any.any_origin());
        // `*` opens /ws/sim to any page, not the server to any Host.
        assert!(!host(&any, "a.b"));
    }

    #[test]
    fn bad_entries_name_the_option() {
        let e = AllowLists::parse(&[], &["ftp://x".into()]).unwrap_err();
        assert!(e.starts_with("--allow-origin \"ftp://x\""), "{e}");
        assert!(AllowLists::parse(&[], &["https://x/path".into()]).is_err());
        let e = AllowLists::parse(&["https://x.example".into()], &[]).unwrap_err();
        assert!(e.starts_with("--allow-host \"https://x.example\""), "{e}");
        assert!(AllowLists::parse(&["x.example:port".into()], &[]).is_err());
        assert!(AllowLists::parse(&["*.example".into()], &[]).is_err());
        assert!(AllowLists::parse(&["[::1]:80".into(), "a-b.c_d".into()], &[]).is_ok());
    }

    #[test]
    fn ipv6_binds_are_bracketed() {
        let a = access(&[], &[], false, "[::1]:8080");
        assert!(host(&a, "[::1]:8080"));
        assert!(origin(&a, "http://[::1]:8080"));
        assert!(a.hosts().contains(&"[::1]:8080".to_owned()));
    }
}
