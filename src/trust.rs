//! What the page trusts: its own origin, and what the site allows in `twinlens.config.json`.
//!
//! A link such as `?manifest=https://elsewhere.example/m.json` must not make the site's page
//! show a foreign twin or open a socket to a foreign server. Before any fetch or socket the page
//! checks the URL here: manifests and models load from the page's own origin unless the site
//! lists more origins, and the live source must be the page's own host or a listed source.
//! The same lists make the Content-Security-Policy's `connect-src` ([`SiteConfig::csp`]), so
//! the browser enforces what the page checks.
//!
//! Entries use the Content-Security-Policy source syntax without its keywords:
//! `scheme://host[:port][/path]`, where the port may be `*` and the host may start with `*.`
//! (any subdomain). A path ending in `/` allows everything below it; another path only itself.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The site configuration's file name, next to the app's `index.html`.
pub const CONFIG_FILE: &str = "twinlens.config.json";

/// What a URL is fetched or opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A twin manifest.
    Manifest,
    /// A model or one of its external buffers and images.
    Model,
    /// The live data source (WebSocket).
    Live,
}

impl Resource {
    fn noun(self) -> &'static str {
        match self {
            Resource::Manifest => "the manifest",
            Resource::Model => "the model",
            Resource::Live => "the live data source",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Resource::Manifest => "manifestOrigins",
            Resource::Model => "modelOrigins",
            Resource::Live => "liveSources",
        }
    }

    fn schemes(self) -> &'static [&'static str] {
        match self {
            Resource::Manifest | Resource::Model => &["https", "http"],
            Resource::Live => &["wss", "ws"],
        }
    }
}

/// Why a URL or the site configuration was refused, in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustError {
    /// The site configuration is not valid.
    Config {
        /// Where (`liveSources[2]`, or the file for a JSON error).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A URL is not allowed for what it was going to be used for.
    Refused {
        /// What it was for.
        what: Resource,
        /// The URL (credentials masked).
        url: String,
        /// Why, and what the site can do.
        why: String,
    },
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::Config { path, message } => {
                write!(f, "{CONFIG_FILE}: {path}: {message}")
            }
            TrustError::Refused { what, url, why } => {
                write!(f, "refused to open {} at {url}: {why}", what.noun())
            }
        }
    }
}

impl std::error::Error for TrustError {}

/// One allowed source: `scheme://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceExpr {
    text: String,
    scheme: String,
    /// Lower case; `*.example.com` keeps its `*.`.
    host: String,
    /// `None` is the wildcard `*`.
    port: Option<u16>,
    /// Empty for none.
    path: String,
}

impl SourceExpr {
    fn parse(text: &str, what: Resource) -> Result<SourceExpr, String> {
        let example = match what {
            Resource::Live => "wss://broker.example.com:8884/mqtt",
            _ => "https://cdn.example.com",
        };
        let trimmed = text.trim();
        if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{trimmed:?} may hold only printable ASCII without spaces (write an international \
                 name in its xn-- form), like {example}"
            ));
        }
        let Some((scheme, rest)) = trimmed.split_once("://") else {
            return Err(format!(
                "{trimmed:?} is not a source like {example} (a scheme, ://, a host)"
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if !what.schemes().contains(&scheme.as_str()) {
            return Err(format!(
                "{trimmed:?} has scheme {scheme:?}; {} takes {} sources, like {example}",
                what.key(),
                what.schemes().join(" or ")
            ));
        }
        if rest.contains(['?', '#', '@', ' ', '"', '\'', ';', ',']) {
            return Err(format!(
                "{trimmed:?} may hold only scheme://host[:port][/path], without user, query or \
                 fragment (like {example})"
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| format!("{trimmed:?} has no valid host[:port] (like {example})"))?;
        let port = match port {
            None => Some(default_port(&scheme)),
            Some("*") => None,
            Some(p) => Some(
                Some(p)
                    .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|p| p.parse::<u16>().ok())
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("{trimmed:?} has port {p:?}; use 1-65535 or *"))?,
            ),
        };
        let bare = host.strip_prefix("*.").unwrap_or(&host);
        if bare.is_empty() || bare.contains('*') || !valid_host(bare) {
            return Err(format!(
                "{trimmed:?} has host {host:?}; use a name, an address or *.name"
            ));
        }
        // The browser writes IPv6 addresses in their shortest form; so does the allow-list.
        let host = match host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .and_then(|a| a.parse::<std::net::Ipv6Addr>().ok())
        {
            Some(v6) => format!("[{v6}]"),
            None => host,
        };
        Ok(SourceExpr {
            text: trimmed.to_owned(),
            scheme,
            host,
            port,
            path: if path == "/" {
                String::new()
            } else {
                path.to_owned()
            },
        })
    }

    fn matches(&self, url: &Url) -> bool {
        if url.scheme != self.scheme {
            return false;
        }
        let host_ok = match self.host.strip_prefix("*.") {
            Some(domain) => url
                .host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => url.host == self.host,
        };
        let port_ok = self.port.is_none_or(|p| p == url.port);
        let path_ok = if self.path.is_empty() {
            true
        } else if self.path.ends_with('/') {
            url.path.starts_with(&self.path)
        } else {
            url.path == self.path
        };
        host_ok && port_ok && path_ok
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[') {
        return v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    }
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

fn default_port(scheme: &str) -> u16 {
    match scheme {
        "https" | "wss" => 443,
        _ => 80,
    }
}

/// `host[:port]` or `[v6][:port]` → (lower-case host, port text).
fn split_host_port(authority: &str) -> Option<(String, Option<&str>)> {
    if authority.is_empty() {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (h, after) = authority.split_at(close + 1);
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    Some((host.to_ascii_lowercase(), port))
}

/// An absolute URL as the browser normalised it (`new URL(...).href`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    /// Whether the URL carries `user[:password]@`.
    user_info: bool,
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

impl Url {
    fn parse(text: &str) -> Option<Url> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        // User info plays no part in where the request goes.
        let user_info = authority.contains('@');
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None | Some("") => default_port(&scheme),
            Some(p) => p.parse().ok()?,
        };
        let after = &rest[end..];
        let path_end = after.find(['?', '#']).unwrap_or(after.len());
        let path = match &after[..path_end] {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        Some(Url {
            user_info,
            scheme,
            host,
            port,
            path,
        })
    }

    fn origin(&self) -> String {
        if self.port == default_port(&self.scheme) {
            format!("{}://{}", self.scheme, self.host)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// The site's allow-lists; the default allows the page's own origin only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteConfig {
    manifest_origins: Vec<SourceExpr>,
    model_origins: Vec<SourceExpr>,
    live_sources: Vec<SourceExpr>,
}

/// The file's JSON shape.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    manifest_origins: Vec<String>,
    #[serde(default)]
    model_origins: Vec<String>,
    #[serde(default)]
    live_sources: Vec<String>,
}

impl SiteConfig {
    /// Parses `twinlens.config.json`. Every field is optional; unknown fields are refused, so a
    /// misspelt list is not silently ignored.
    pub fn parse(json: &str) -> Result<SiteConfig, TrustError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let file: ConfigFile =
            serde_path_to_error::deserialize(de).map_err(|e| TrustError::Config {
                path: match e.path().to_string() {
                    p if p == "." || p == "?" => "(top level)".to_owned(),
                    p => p,
                },
                message: format!(
                    "{} (expected {{\"manifestOrigins\": [...], \"modelOrigins\": [...], \
                     \"liveSources\": [...]}})",
                    e.inner()
                ),
            })?;
        SiteConfig::from_lists(
            &file.manifest_origins,
            &file.model_origins,
            &file.live_sources,
        )
    }

    /// A configuration from the three lists (as `twinlens serve`'s options give them).
    pub fn from_lists(
        manifest_origins: &[String],
        model_origins: &[String],
        live_sources: &[String],
    ) -> Result<SiteConfig, TrustError> {
        let list = |items: &[String], what: Resource| {
            items
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    SourceExpr::parse(t, what).map_err(|message| TrustError::Config {
                        path: format!("{}[{i}]", what.key()),
                        message,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(SiteConfig {
            manifest_origins: list(manifest_origins, Resource::Manifest)?,
            model_origins: list(model_origins, Resource::Model)?,
            live_sources: list(live_sources, Resource::Live)?,
        })
    }

    /// The configuration as `twinlens.config.json` text.
    pub fn to_json(&self) -> String {
        let texts = |v: &[SourceExpr]| v.iter().map(|s| s.text.clone()).collect();
        let file = ConfigFile {
            manifest_origins: texts(&self.manifest_origins),
            model_origins: texts(&self.model_origins),
            live_sources: texts(&self.live_sources),
        };
        serde_json::to_string_pretty(&file).unwrap_or_else(|_| "{}".to_owned()) + "\n"
    }

    /// The Content-Security-Policy header value for the app under this configuration: scripts
    /// only from the app's origin (WebAssembly allowed, no inline code, no `eval`), and
    /// connections only to the page's own origin and the listed sources.
    pub fn csp(&self) -> String {
        let mut connect = vec!["'self'".to_owned()];
        for s in self
            .manifest_origins
            .iter()
            .chain(&self.model_origins)
            .chain(&self.live_sources)
        {
            if !connect.contains(&s.text) {
                connect.push(s.text.clone());
            }
        }
        format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data:; connect-src {}; worker-src 'none'; frame-ancestors 'none'; \
             object-src 'none'; base-uri 'none'; form-action 'none'",
            connect.join(" ")
        )
    }

    /// Ok when `url` (absolute, as the browser resolved it) may be used for `what` by a page
    /// whose URL is `page_url`.
    pub fn check(&self, what: Resource, url: &str, page_url: &str) -> Result<(), TrustError> {
        let shown = crate::redact::scrub(url, &crate::redact::Secrets::default());
        let refuse = |why: String| TrustError::Refused {
            what,
            url: shown.clone(),
            why,
        };
        let Some(target) = Url::parse(url) else {
            return Err(refuse(format!(
                "it is not an absolute {} URL",
                what.schemes().join(" or ")
            )));
        };
        if !what.schemes().contains(&target.scheme.as_str()) {
            return Err(refuse(format!(
                "{} must use {}, not {}:",
                what.noun(),
                what.schemes().join(" or "),
                target.scheme
            )));
        }
        if target.user_info {
            return Err(refuse(format!(
                "the URL carries a user name or password, which the browser would show in its \
                 logs; {}",
                match what {
                    Resource::Live => "put them in the manifest's source.credentials instead",
                    _ => "serve the file without credentials in its URL",
                }
            )));
        }
        let page = Url::parse(page_url);
        if let Some(page) = &page
            && same_origin(what, &target, page)
        {
            return Ok(());
        }
        let list = match what {
            Resource::Manifest => &self.manifest_origins,
            Resource::Model => &self.model_origins,
            Resource::Live => &self.live_sources,
        };
        if list.iter().any(|s| s.matches(&target)) {
            return Ok(());
        }
        let here = page.map_or_else(|| "this site".to_owned(), |p| p.origin());
        Err(refuse(format!(
            "only {here} and the {} listed in {CONFIG_FILE} may serve it; if {} is the site's \
             own, add it to {}",
            what.key(),
            target.origin(),
            what.key()
        )))
    }
}

/// Same origin, where a WebSocket's `ws`/`wss` stand for the page's `http`/`https`.
fn same_origin(what: Resource, target: &Url, page: &Url) -> bool {
    let scheme_ok = match what {
        Resource::Live => matches!(
            (target.scheme.as_str(), page.scheme.as_str()),
            ("ws", "http") | ("wss", "https")
        ),
        _ => target.scheme == page.scheme,
    };
    scheme_ok && target.port == page.port && target.host == page.host
}

#[cfg(test)]
mod tests;
