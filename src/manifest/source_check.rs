//! Validation of a manifest's live-data `source` section and of the sensor bindings it needs.

use super::{AdapterKind, MAX_SILENCE_SECONDS, Manifest, ManifestProblem, problem};

impl Manifest {
    pub(super) fn check_source(&self, problems: &mut Vec<ManifestProblem>) {
        let Some(src) = &self.source else { return };
        let url = src.url.trim();
        if !(url.starts_with("ws://") || url.starts_with("wss://") || url.starts_with('/')) {
            problems.push(problem(
                "source.url",
                format!("\"{url}\" must start with ws://, wss:// or / (a path on the page's host)"),
            ));
        }
        if src.max_message_bytes == 0 {
            problems.push(problem("source.maxMessageBytes", "must be at least 1"));
        }
        if !(src.silence_seconds.is_finite()
            && (1.0..=MAX_SILENCE_SECONDS).contains(&src.silence_seconds))
        {
            problems.push(problem(
                "source.silenceSeconds",
                format!(
                    "{} is not a number of seconds from 1 to {MAX_SILENCE_SECONDS} (a day)",
                    src.silence_seconds
                ),
            ));
        }
        let r = &src.reconnect;
        if !(r.base_seconds.is_finite() && r.base_seconds > 0.0) {
            problems.push(problem(
                "source.reconnect.baseSeconds",
                "must be a positive number of seconds",
            ));
        }
        if !(r.cap_seconds.is_finite() && r.cap_seconds >= r.base_seconds) {
            problems.push(problem(
                "source.reconnect.capSeconds",
                "must be at least baseSeconds",
            ));
        }
        let pointers = [
            ("source.payload.readings", src.payload.readings.as_deref()),
            ("source.payload.id", Some(src.payload.id.as_str())),
            ("source.payload.value", Some(src.payload.value.as_str())),
            ("source.payload.timestamp", src.payload.timestamp.as_deref()),
            ("source.payload.quality", src.payload.quality.as_deref()),
        ];
        for (path, p) in pointers {
            if let Some(p) = p
                && !(p.is_empty() || p.starts_with('/'))
            {
                problems.push(problem(
                    path,
                    format!("\"{p}\" is not a JSON pointer: it must be empty or start with /"),
                ));
            }
        }
        for (i, s) in self.sensors.iter().enumerate() {
            let b = &s.binding;
            let at = |field: &str| format!("sensors[{i}].binding.{field}");
            match src.adapter {
                AdapterKind::Mqtt => match b.topic.as_deref() {
                    None | Some("") => problems.push(problem(
                        &at("topic"),
                        "the mqtt adapter needs the MQTT topic this sensor is published on",
                    )),
                    Some(t) => {
                        if let Err(why) = check_topic_filter(t) {
                            problems.push(problem(&at("topic"), why));
                        }
                    }
                },
                AdapterKind::Ditto => {
                    if b.thing.as_deref().is_none_or(str::is_empty) {
                        problems.push(problem(
                            &at("thing"),
                            "the ditto adapter needs the thing id (namespace:name)",
                        ));
                    }
                    match b.path.as_deref() {
                        Some(p) if p.trim_start_matches('/').starts_with("features/") => {}
                        _ => problems.push(problem(&at("path"), "the ditto adapter needs a path like features/<feature>/properties/<property>")),
                    }
                }
                AdapterKind::Json => {}
            }
        }
    }
}

/// MQTT 3.1.1 topic filter rules: `#` only last and alone in its level, `+` alone in its level.
fn check_topic_filter(t: &str) -> Result<(), String> {
    if t.len() > 65_535 {
        return Err("is longer than MQTT's 65535 bytes".into());
    }
    if t.contains('\0') {
        return Err("must not contain NUL".into());
    }
    let levels: Vec<&str> = t.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != levels.len() - 1) {
            return Err(format!(
                "\"{t}\": '#' must be a whole level and the last one"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!("\"{t}\": '+' must be a whole level"));
        }
    }
    Ok(())
}
