use super::*;

const PAGE: &str = "https://twin.site/index.html?manifest=x";

fn config(manifest: &[&str], model: &[&str], live: &[&str]) -> SiteConfig {
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    SiteConfig::from_lists(&v(manifest), &v(model), &v(live)).expect("valid config")
}

#[test]
fn default_allows_only_the_page_origin() {
    let c = SiteConfig::default();
    assert_eq!(
        c.check(
            Resource::Manifest,
            "https://twin.site/demo/m.twin.json",
            PAGE
        ),
        Ok(())
    );
    assert_eq!(
        c.check(Resource::Model, "https://twin.site/m.glb", PAGE),
        Ok(())
    );
    let err = c
        .check(Resource::Manifest, "https://elsewhere.example/m.json", PAGE)
        .expect_err("foreign manifest");
    let text = err.to_string();
    assert!(text.contains("https://elsewhere.example/m.json"), "{text}");
    assert!(text.contains("manifestOrigins"), "{text}");
    assert!(text.contains("https://twin.site"), "{text}");
    // Another port or scheme on the same host is another origin.
    assert!(
        c.check(Resource::Manifest, "https://twin.site:8443/m.json", PAGE)
            .is_err()
    );
    assert!(
        c.check(Resource::Manifest, "http://twin.site/m.json", PAGE)
            .is_err()
    );
}

#[test]
fn live_source_on_the_page_host_is_allowed_and_others_refused() {
    let c = SiteConfig::default();
    assert_eq!(
        c.check(Resource::Live, "wss://twin.site/ws/sim", PAGE),
        Ok(())
    );
    assert_eq!(
        c.check(
            Resource::Live,
            "ws://127.0.0.1:8080/ws/sim",
            "http://127.0.0.1:8080/"
        ),
        Ok(())
    );
    for url in [
        "wss://evil.example/ws",
        "ws://twin.site/ws/sim", // a secure page does not downgrade
        "wss://twin.site:9001/",
        "https://twin.site/ws",
    ] {
        assert!(
            c.check(Resource::Live, url, PAGE).is_err(),
            "{url} should be refused"
        );
    }
}

#[test]
fn listed_origins_allow_their_resources_only() {
    let c = config(
        &["https://cdn.site"],
        &["https://models.site:8443"],
        &["wss://broker.site:8884/mqtt"],
    );
    assert_eq!(
        c.check(Resource::Manifest, "https://cdn.site/a/b.json", PAGE),
        Ok(())
    );
    assert!(
        c.check(Resource::Model, "https://cdn.site/a.glb", PAGE)
            .is_err(),
        "a manifest origin is not a model origin"
    );
    assert_eq!(
        c.check(Resource::Model, "https://models.site:8443/a.glb", PAGE),
        Ok(())
    );
    assert!(
        c.check(Resource::Model, "https://models.site/a.glb", PAGE)
            .is_err()
    );
    assert_eq!(
        c.check(Resource::Live, "wss://broker.site:8884/mqtt", PAGE),
        Ok(())
    );
    assert!(
        c.check(Resource::Live, "wss://broker.site:8884/other", PAGE)
            .is_err(),
        "a path without a trailing slash allows only itself"
    );
}

#[test]
fn wildcards_follow_csp() {
    let c = config(
        &["https://*.site.example", "https://x.example/twins/"],
        &[],
        &["ws://127.0.0.1:*"],
    );
    assert_eq!(
        c.check(Resource::Manifest, "https://a.b.site.example/m.json", PAGE),
        Ok(())
    );
    assert!(
        c.check(Resource::Manifest, "https://site.example/m.json", PAGE)
            .is_err(),
        "*. needs a subdomain"
    );
    assert!(
        c.check(Resource::Manifest, "https://evilsite.example/m.json", PAGE)
            .is_err()
    );
    assert_eq!(
        c.check(Resource::Manifest, "https://x.example/twins/a/m.json", PAGE),
        Ok(())
    );
    assert!(
        c.check(Resource::Manifest, "https://x.example/other.json", PAGE)
            .is_err()
    );
    assert_eq!(
        c.check(Resource::Live, "ws://127.0.0.1:41234/", PAGE),
        Ok(())
    );
    assert!(
        c.check(Resource::Live, "ws://127.0.0.2:41234/", PAGE)
            .is_err()
    );
}

#[test]
fn user_info_does_not_change_the_origin_and_is_not_shown() {
    let c = SiteConfig::default();
    let err = c
        .check(
            Resource::Live,
            "wss://u:hunter2@evil.example/ws?token=abc",
            PAGE,
        )
        .expect_err("foreign");
    let text = err.to_string();
    assert!(!text.contains("hunter2") && !text.contains("abc"), "{text}");
    // A URL with user info is refused whatever its host.
    assert!(
        c.check(
            Resource::Manifest,
            "https://twin.site@evil.example/m.json",
            PAGE
        )
        .is_err()
    );
    // Even on the page's own host, credentials stay out of URLs.
    let err = c
        .check(Resource::Live, "wss://ops:pw1234@twin.site/ws", PAGE)
        .expect_err("user info");
    assert!(err.to_string().contains("source.credentials"), "{err}");
    assert!(!err.to_string().contains("pw1234"), "{err}");
}

#[test]
fn ipv6_entries_match_the_browser_form() {
    let c = config(&[], &[], &["ws://[0:0::1]:9001"]);
    assert_eq!(c.check(Resource::Live, "ws://[::1]:9001/", PAGE), Ok(()));
}

#[test]
fn non_network_urls_are_refused() {
    let c = SiteConfig::default();
    for url in [
        "data:application/json,{}",
        "blob:https://twin.site/1",
        "javascript:x",
        "m.json",
    ] {
        assert!(c.check(Resource::Manifest, url, PAGE).is_err(), "{url}");
    }
}

#[test]
fn config_file_parses_and_round_trips() {
    let text =
        r#"{ "manifestOrigins": ["https://cdn.site"], "liveSources": ["wss://b.site:8884"] }"#;
    let c = SiteConfig::parse(text).expect("valid");
    assert_eq!(
        c.check(Resource::Live, "wss://b.site:8884/mqtt", PAGE),
        Ok(())
    );
    let again = SiteConfig::parse(&c.to_json()).expect("round trip");
    assert_eq!(again, c);
    assert_eq!(SiteConfig::parse("{}"), Ok(SiteConfig::default()));
}

#[test]
fn bad_config_names_the_entry() {
    let cases = [
        (r#"{"liveSource": []}"#, "liveSource"),
        (r#"{"liveSources": ["https://b.site"]}"#, "liveSources[0]"),
        (r#"{"modelOrigins": ["cdn.site"]}"#, "modelOrigins[0]"),
        (
            r#"{"manifestOrigins": ["https://a", "https://u@b"]}"#,
            "manifestOrigins[1]",
        ),
        (
            r#"{"manifestOrigins": ["https://a:99999"]}"#,
            "manifestOrigins[0]",
        ),
        (
            r#"{"manifestOrigins": ["https://*"]}"#,
            "manifestOrigins[0]",
        ),
        (r#"{"manifestOrigins": "https://a"}"#, "manifestOrigins"),
        ("{", "(top level)"),
        (
            r#"{"liveSources": ["wss://b/x\thttps:"]}"#,
            "liveSources[0]",
        ),
        (r#"{"liveSources": ["wss://b:+443"]}"#, "liveSources[0]"),
        (
            r#"{"manifestOrigins": ["https://bücher.example"]}"#,
            "manifestOrigins[0]",
        ),
    ];
    for (json, path) in cases {
        let err = SiteConfig::parse(json).expect_err(json);
        let text = err.to_string();
        assert!(text.starts_with(CONFIG_FILE), "{text}");
        assert!(text.contains(path), "{json}: {text}");
    }
}

#[test]
fn csp_has_no_inline_code_and_lists_the_sources() {
    let c = config(
        &["https://cdn.site"],
        &["https://cdn.site"],
        &["wss://b.site:8884"],
    );
    let csp = c.csp();
    for part in [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "connect-src 'self' https://cdn.site wss://b.site:8884;",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"),
        "{csp}"
    );
    assert!(SiteConfig::default().csp().contains("connect-src 'self';"));
}
