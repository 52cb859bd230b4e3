//! The site configuration served at `/twinlens.config.json` (which origins the page may load
//! manifests and models from, which live sources it may open) and whose CSP every response
//! carries: from the `--allow-manifest-origin`, `--allow-model-origin` and `--allow-live`
//! options when any is given, else from `<dir>/twinlens.config.json` when it exists, else the
//! default (the page's own origin only).

use std::path::{Path, PathBuf};

use twinlens::trust::{SiteConfig, TrustError};

use super::log::quote;

/// Where the configuration came from, for the start-up lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Options,
    File(PathBuf),
    Default,
}

/// The configuration served, and its origin.
#[derive(Debug, Clone)]
pub struct Site {
    pub config: SiteConfig,
    pub source: Source,
    /// `manifest`, `model` and `live` lists from the options (empty otherwise), to print.
    lists: [Vec<String>; 3],
}

/// Why the configuration cannot be used; either way the server does not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteError {
    /// An option entry is invalid (a usage error, exit code 2).
    Option(String),
    /// The file cannot be read or is invalid (exit code 1).
    File(String),
}

impl Site {
    /// Chooses the configuration as the module doc says.
    pub fn load(
        dir: &Path,
        manifest: &[String],
        model: &[String],
        live: &[String],
    ) -> Result<Site, SiteError> {
        let file = dir.join("twinlens.config.json");
        if !(manifest.is_empty() && model.is_empty() && live.is_empty()) {
            let config = from_options(manifest, model, live)?;
            if file.is_file() {
                eprintln!(
                    "twinlens: ignoring {} because --allow-manifest-origin, --allow-model-origin or \
                     --allow-live was given",
                    file.display()
                );
            }
            return Ok(Site {
                config,
                source: Source::Options,
                lists: [manifest.to_vec(), model.to_vec(), live.to_vec()],
            });
        }
        if !file.exists() {
            return Ok(Site {
                config: SiteConfig::default(),
                source: Source::Default,
                lists: Default::default(),
            });
        }
        let text = std::fs::read_to_string(&file).map_err(|e| {
            SiteError::File(format!(
                "cannot read {}: {e} (fix or remove it, or give --allow-live and the like)",
                file.display()
            ))
        })?;
        let config = SiteConfig::parse(&text).map_err(|e| {
            SiteError::File(format!(
                "{} is not a valid site configuration: {e} (fix or remove it)",
                file.display()
            ))
        })?;
        Ok(Site {
            config,
            source: Source::File(file),
            lists: Default::default(),
        })
    }

    /// Lines for the start-up output, saying what the page may load and connect to.
    pub fn describe(&self) -> Vec<String> {
        match &self.source {
            Source::Default => vec![
                "twinlens: site config (/twinlens.config.json): the page's own origin only \
                 (allow more with --allow-manifest-origin, --allow-model-origin, --allow-live)"
                    .to_owned(),
            ],
            Source::File(path) => {
                let json = self.config.to_json();
                let compact = serde_json::from_str::<serde_json::Value>(&json)
                    .map(|v| v.to_string())
                    .unwrap_or(json);
                vec![format!(
                    "twinlens: site config (/twinlens.config.json) from {}: {compact}",
                    path.display()
                )]
            }
            Source::Options => {
                let names = ["manifests from", "models from", "live data from"];
                let mut out = vec![
                    "twinlens: site config (/twinlens.config.json) from the options; besides \
                     the page's own origin it allows:"
                        .to_owned(),
                ];
                for (name, list) in names.iter().zip(&self.lists) {
                    if !list.is_empty() {
                        out.push(format!("  {name} {}", list.join(", ")));
                    }
                }
                out
            }
        }
    }
}

/// The configuration of the three options; an invalid entry is named with its option.
fn from_options(
    manifest: &[String],
    model: &[String],
    live: &[String],
) -> Result<SiteConfig, SiteError> {
    let options = [
        ("--allow-manifest-origin", manifest),
        ("--allow-model-origin", model),
        ("--allow-live", live),
    ];
    for (slot, (option, entries)) in options.iter().enumerate() {
        for entry in entries.iter() {
            let one = std::slice::from_ref(entry);
            let checked = match slot {
                0 => SiteConfig::from_lists(one, &[], &[]),
                1 => SiteConfig::from_lists(&[], one, &[]),
                _ => SiteConfig::from_lists(&[], &[], one),
            };
            if let Err(e) = checked {
                let why = match e {
                    TrustError::Config { message, .. } => message,
                    other => other.to_string(),
                };
                return Err(SiteError::Option(format!(
                    "{option} {}: {why}",
                    quote(entry)
                )));
            }
        }
    }
    SiteConfig::from_lists(manifest, model, live).map_err(|e| SiteError::Option(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("twinlens-site-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn options_win_then_the_file_then_the_default() {
        let d = dir("order");
        let site = Site::load(&d, &[], &[], &[]).unwrap();
        assert_eq!(site.source, Source::Default);
        assert_eq!(site.config, SiteConfig::default());

        let from_file = SiteConfig::from_lists(&[], &[], &["wss://feed.example".into()]).unwrap();
        std::fs::write(d.join("twinlens.config.json"), from_file.to_json()).unwrap();
        let site = Site::load(&d, &[], &[], &[]).unwrap();
        assert_eq!(site.source, Source::File(d.join("twinlens.config.json")));
        assert_eq!(site.config, from_file);
        assert!(
            site.describe()[0].contains("wss://feed.example"),
            "{:?}",
            site.describe()
        );

        let live = vec!["ws://127.0.0.1:*".to_owned()];
        let site = Site::load(&d, &[], &[], &live).unwrap();
        assert_eq!(site.source, Source::Options);
        assert_eq!(
            site.config,
            SiteConfig::from_lists(&[], &[], &live).unwrap()
        );
        assert!(
            site.describe()
                .iter()
                .any(|l| l.contains("ws://127.0.0.1:*"))
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_entries_and_files_are_named() {
        let d = dir("bad");
        let err = Site::load(&d, &[], &[], &["ftp://x.example".into()]).unwrap_err();
        let SiteError::Option(text) = err else {
            panic!("{err:?}")
        };
        assert!(
            text.starts_with("--allow-live \"ftp://x.example\": "),
            "{text}"
        );
        let err = Site::load(
            &d,
            &["https://ok.example".into(), "not a url".into()],
            &[],
            &[],
        )
        .unwrap_err();
        assert!(
            matches!(&err, SiteError::Option(t) if t.starts_with("--allow-manifest-origin \"not a url\"")),
            "{err:?}"
        );

        std::fs::write(d.join("twinlens.config.json"), "{\"liveSource\": []}").unwrap();
        let err = Site::load(&d, &[], &[], &[]).unwrap_err();
        assert!(
            matches!(&err, SiteError::File(t) if t.contains("twinlens.config.json")),
            "{err:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
