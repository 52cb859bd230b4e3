//! The twin manifest: a JSON document naming the model, its placement defaults and the sensors
//! bound to its parts. Parsing reports every unknown field and every invalid value by JSON path.

use glam::{Mat4, Quat, Vec3};
use serde::Deserialize;

use crate::model::TwinModel;

mod security;
mod source_check;

pub use security::{is_loopback_host, url_has_secret};

/// One problem in a manifest, located by JSON path (`sensors[3].node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestProblem {
    /// JSON path of the offending field; empty for the document itself.
    pub path: String,
    /// What was wrong and what was expected.
    pub message: String,
}

/// Why a manifest was rejected: the file it came from and every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ManifestError {
    /// File name or URL of the manifest.
    pub source_name: String,
    /// At least one problem.
    pub problems: Vec<ManifestProblem>,
}

impl ManifestError {
    fn render(&self) -> String {
        self.problems
            .iter()
            .map(|p| {
                if p.path.is_empty() {
                    format!("{}: {}", self.source_name, p.message)
                } else {
                    format!("{}: {}: {}", self.source_name, p.path, p.message)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A twin: the model and the sensors bound to its nodes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Display name of the asset ("Pump skid P-101").
    pub name: String,
    /// Free text shown with the twin.
    #[serde(default)]
    pub description: Option<String>,
    /// The 3D model and how it is placed.
    pub model: ModelRef,
    /// Sensors bound to model nodes.
    #[serde(default)]
    pub sensors: Vec<Sensor>,
    /// Where live data comes from; without it the twin shows no readings.
    #[serde(default)]
    pub source: Option<Source>,
    /// How much history each sensor keeps for trends.
    #[serde(default)]
    pub history: HistorySpec,
}

/// The live-data connection: a WebSocket and the protocol spoken on it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// `ws://` or `wss://` URL, or a path (`/ws/sim`) on the page's own host.
    pub url: String,
    /// The protocol adapter.
    pub adapter: AdapterKind,
    /// Credentials for the backend; never logged.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// MQTT client id; a random suffix is added when it ends in `-`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Keep-alive interval in seconds (MQTT PINGREQ; other adapters only watch for silence).
    #[serde(default = "default_keep_alive")]
    pub keep_alive_seconds: u16,
    /// Frames larger than this are dropped and counted.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// `json` and `ditto` adapters: a socket that brings no frame for this many seconds is
    /// taken as half-open, closed and replaced (MQTT has its keep-alive instead).
    #[serde(default = "default_silence")]
    pub silence_seconds: f64,
    /// Reconnect backoff.
    #[serde(default)]
    pub reconnect: ReconnectSpec,
    /// Text sent right after the socket opens (authentication or subscription), with
    /// `{username}`, `{password}`, `{token}` and `{clientId}` replaced.
    #[serde(default)]
    pub on_open: Option<String>,
    /// Where values sit in JSON messages (`json` adapter, and JSON MQTT payloads).
    #[serde(default)]
    pub payload: PayloadSpec,
    /// Eclipse Ditto event subscription.
    #[serde(default)]
    pub ditto: DittoSpec,
}

/// Which protocol the source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    /// JSON text frames mapped with JSON pointers.
    Json,
    /// MQTT 3.1.1 over WebSocket.
    Mqtt,
    /// Eclipse Ditto WebSocket protocol.
    Ditto,
}

/// Credentials for the source.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// User name (MQTT CONNECT, templates).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (MQTT CONNECT, templates).
    #[serde(default)]
    pub password: Option<String>,
    /// Bearer token (Ditto, templates).
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // Secrets stay out of logs and error messages, whatever prints a manifest.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| {
            if v.is_some() {
                "Some(<redacted>)"
            } else {
                "None"
            }
        };
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &format_args!("{}", shown(&self.password)))
            .field("token", &format_args!("{}", shown(&self.token)))
            .finish()
    }
}

/// Exponential backoff with full jitter between reconnect attempts.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconnectSpec {
    /// First delay ceiling, seconds.
    #[serde(default = "default_backoff_base")]
    pub base_seconds: f64,
    /// Largest delay, seconds.
    #[serde(default = "default_backoff_cap")]
    pub cap_seconds: f64,
}

impl Default for ReconnectSpec {
    fn default() -> Self {
        Self {
            base_seconds: default_backoff_base(),
            cap_seconds: default_backoff_cap(),
        }
    }
}

/// JSON pointers (RFC 6901) into a message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadSpec {
    /// Pointer to an array of readings; absent when each message is one reading.
    #[serde(default)]
    pub readings: Option<String>,
    /// Pointer to the sensor id inside a reading.
    #[serde(default = "default_id_pointer")]
    pub id: String,
    /// Pointer to the value.
    #[serde(default = "default_value_pointer")]
    pub value: String,
    /// Pointer to the source timestamp (epoch milliseconds or RFC 3339 text).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Pointer to a quality flag (`"good"`, `"uncertain"`, `"bad"`).
    #[serde(default)]
    pub quality: Option<String>,
}

impl Default for PayloadSpec {
    fn default() -> Self {
        Self {
            readings: None,
            id: default_id_pointer(),
            value: default_value_pointer(),
            timestamp: None,
            quality: None,
        }
    }
}

/// Ditto `START-SEND-EVENTS` options.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DittoSpec {
    /// Namespaces to receive events for; empty means all the token may see.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// RQL filter, e.g. `exists(features/motor)`.
    #[serde(default)]
    pub filter: Option<String>,
}

/// How each sensor's history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistorySpec {
    /// How far back trends reach, seconds.
    #[serde(default = "default_history_window")]
    pub window_seconds: f64,
    /// At most one point per this many seconds is kept.
    #[serde(default = "default_history_resolution")]
    pub resolution_seconds: f64,
}

impl Default for HistorySpec {
    fn default() -> Self {
        Self {
            window_seconds: default_history_window(),
            resolution_seconds: default_history_resolution(),
        }
    }
}

impl HistorySpec {
    /// Points kept per sensor.
    pub fn capacity(&self) -> usize {
        (self.window_seconds / self.resolution_seconds)
            .ceil()
            .max(1.0) as usize
    }
}

/// Most history points per sensor; beyond this, 10,000 sensors would not fit a phone.
pub const MAX_HISTORY_POINTS: usize = 3600;

/// Where a sensor's readings come from in the source's messages.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// MQTT topic or topic filter (`plant/p101/+/temp`).
    #[serde(default)]
    pub topic: Option<String>,
    /// Ditto thing id (`org.acme:pump-101`).
    #[serde(default)]
    pub thing: Option<String>,
    /// Ditto path (`features/motor/properties/temperature`).
    #[serde(default)]
    pub path: Option<String>,
    /// Id used in JSON messages when it differs from the sensor id.
    #[serde(default)]
    pub key: Option<String>,
}

fn default_keep_alive() -> u16 {
    30
}
fn default_max_message() -> usize {
    1024 * 1024
}
fn default_silence() -> f64 {
    30.0
}

/// Longest `source.silenceSeconds` accepted: a day.
pub const MAX_SILENCE_SECONDS: f64 = 86_400.0;
fn default_backoff_base() -> f64 {
    0.5
}
fn default_backoff_cap() -> f64 {
    30.0
}
fn default_id_pointer() -> String {
    "/id".into()
}
fn default_value_pointer() -> String {
    "/value".into()
}
fn default_history_window() -> f64 {
    600.0
}
fn default_history_resolution() -> f64 {
    1.0
}

/// Where the model lives and how its coordinates map to metres, Y up.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef {
    /// URL of a `.glb` or `.gltf`, relative to the manifest.
    pub url: String,
    /// Metres per model unit (0.001 for a model authored in millimetres).
    #[serde(default = "one")]
    pub unit_scale: f32,
    /// Which model axis points up.
    #[serde(default)]
    pub up_axis: UpAxis,
    /// Translation in metres applied after scaling, e.g. to put the model's floor at 0.
    #[serde(default)]
    pub origin_offset: [f32; 3],
}

fn one() -> f32 {
    1.0
}

/// The model's up axis; glTF specifies +Y, CAD exports often use +Z.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpAxis {
    /// +Y up (glTF convention).
    #[default]
    Y,
    /// +Z up.
    Z,
}

impl ModelRef {
    /// Transform from model space to the twin's space (metres, Y up).
    pub fn placement(&self) -> Mat4 {
        let up = match self.up_axis {
            UpAxis::Y => Quat::IDENTITY,
            UpAxis::Z => Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2),
        };
        Mat4::from_scale_rotation_translation(
            Vec3::splat(self.unit_scale),
            up,
            Vec3::from(self.origin_offset),
        )
    }
}

/// A sensor bound to a model node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sensor {
    /// Unique id, matched against incoming telemetry.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Name of the glTF node the sensor belongs to.
    pub node: String,
    /// Unit shown after the value ("°C", "bar").
    #[serde(default)]
    pub unit: Option<String>,
    /// Display range `[min, max]` for gauges and colour ramps.
    #[serde(default)]
    pub range: Option<[f64; 2]>,
    /// Warning band.
    #[serde(default)]
    pub warning: Option<Threshold>,
    /// Alarm band.
    #[serde(default)]
    pub alarm: Option<Threshold>,
    /// Seconds after which a reading counts as stale.
    #[serde(default = "default_max_age")]
    pub max_age_seconds: f64,
    /// Where the readings come from in the source's messages.
    #[serde(default)]
    pub binding: Binding,
    /// How the sensor is drawn: precision, label offset, priority, colouring.
    #[serde(default)]
    pub display: crate::overlay::rules::OverlayRules,
}

fn default_max_age() -> f64 {
    30.0
}

/// A band outside which a value is in warning or alarm.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Threshold {
    /// The state applies when the value is at or above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// The state applies when the value is at or below this.
    #[serde(default)]
    pub below: Option<f64>,
}

/// Every field name the manifest knows, for "did you mean" suggestions on unknown fields.
const KNOWN_FIELDS: &[&str] = &[
    "name",
    "description",
    "model",
    "sensors",
    "url",
    "unitScale",
    "upAxis",
    "originOffset",
    "id",
    "node",
    "unit",
    "range",
    "warning",
    "alarm",
    "maxAgeSeconds",
    "source",
    "history",
    "adapter",
    "credentials",
    "username",
    "password",
    "token",
    "clientId",
    "keepAliveSeconds",
    "maxMessageBytes",
    "silenceSeconds",
    "reconnect",
    "baseSeconds",
    "capSeconds",
    "onOpen",
    "payload",
    "readings",
    "value",
    "timestamp",
    "quality",
    "ditto",
    "namespaces",
    "filter",
    "windowSeconds",
    "resolutionSeconds",
    "binding",
    "topic",
    "thing",
    "path",
    "key",
    "above",
    "below",
    "display",
];

/// Largest manifest accepted; a twin with thousands of sensors stays far below it.
pub const MAX_MANIFEST_BYTES: usize = 16 * 1024 * 1024;

impl Manifest {
    /// Parses and validates a manifest (everything that does not need the model).
    pub fn parse(bytes: &[u8], source_name: &str) -> Result<Manifest, ManifestError> {
        let fail = |problems| ManifestError {
            source_name: source_name.to_owned(),
            problems,
        };
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(fail(vec![problem(
                "",
                format!(
                    "file is {} bytes; a manifest may be at most {MAX_MANIFEST_BYTES} bytes",
                    bytes.len()
                ),
            )]));
        }
        let mut unknown: Vec<String> = Vec::new();
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let tracked = serde_ignored::Deserializer::new(&mut json, &mut on_unknown);
        let parsed: Result<Manifest, _> = serde_path_to_error::deserialize(tracked);
        let manifest = match parsed {
            Ok(m) => m,
            Err(e) => {
                let path = json_path(&e.path().to_string());
                // serde quotes the offending value ("invalid type: integer `12345`"): never
                // for a credential.
                let serde_message = describe_serde_error(e.inner());
                let message = security::secret_type_error(&path, &serde_message, bytes)
                    .unwrap_or(serde_message);
                return Err(fail(vec![problem(&path, message)]));
            }
        };
        if let Err(e) = json.end() {
            return Err(fail(vec![problem("", describe_serde_error(&e))]));
        }
        let mut problems: Vec<ManifestProblem> = unknown
            .iter()
            .map(|raw| {
                let path = json_path(raw);
                let field = path.rsplit('.').next().unwrap_or(&path);
                let known = KNOWN_FIELDS
                    .iter()
                    .chain(crate::overlay::rules::KNOWN_FIELDS)
                    .copied();
                let message = match closest(field, known) {
                    Some(c) => format!("unknown field (did you mean \"{c}\"?)"),
                    None => "unknown field; remove it or check the manifest reference in README"
                        .to_owned(),
                };
                problem(&path, message)
            })
            .collect();
        manifest.check_values(&mut problems);
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(fail(problems))
        }
    }

    fn check_values(&self, problems: &mut Vec<ManifestProblem>) {
        if self.name.trim().is_empty() {
            problems.push(problem("name", "must not be empty"));
        }
        let m = &self.model;
        if m.url.trim().is_empty() {
            problems.push(problem("model.url", "must name a .glb or .gltf file"));
        }
        if !(m.unit_scale.is_finite() && m.unit_scale > 0.0) {
            problems.push(problem(
                "model.unitScale",
                format!(
                    "{} is not a positive number of metres per model unit",
                    m.unit_scale
                ),
            ));
        }
        if m.origin_offset.iter().any(|v| !v.is_finite()) {
            problems.push(problem(
                "model.originOffset",
                "must be three finite numbers (metres)",
            ));
        }
        self.check_source(problems);
        let h = &self.history;
        if !(h.window_seconds.is_finite() && h.window_seconds > 0.0) {
            problems.push(problem(
                "history.windowSeconds",
                "must be a positive number of seconds",
            ));
        }
        if !(h.resolution_seconds.is_finite() && h.resolution_seconds > 0.0) {
            problems.push(problem(
                "history.resolutionSeconds",
                "must be a positive number of seconds",
            ));
        } else if h.capacity() > MAX_HISTORY_POINTS {
            problems.push(problem(
                "history",
                format!(
                    "{} s at {} s resolution is {} points per sensor; at most {MAX_HISTORY_POINTS} are kept: raise resolutionSeconds",
                    h.window_seconds,
                    h.resolution_seconds,
                    h.capacity()
                ),
            ));
        }
        let mut seen = std::collections::HashMap::new();
        for (i, s) in self.sensors.iter().enumerate() {
            let at = |field: &str| format!("sensors[{i}].{field}");
            if s.id.trim().is_empty() {
                problems.push(problem(&at("id"), "must not be empty"));
            } else if let Some(first) = seen.insert(s.id.as_str(), i) {
                problems.push(problem(
                    &at("id"),
                    format!(
                        "\"{}\" is already used by sensors[{first}]; ids must be unique",
                        s.id
                    ),
                ));
            }
            if s.name.trim().is_empty() {
                problems.push(problem(&at("name"), "must not be empty"));
            }
            for (path, message) in s.display.validate(&format!("sensors[{i}].display")) {
                problems.push(problem(&path, message));
            }
            if s.node.trim().is_empty() {
                problems.push(problem(&at("node"), "must name a node of the model"));
            }
            if !(s.max_age_seconds.is_finite() && s.max_age_seconds > 0.0) {
                problems.push(problem(
                    &at("maxAgeSeconds"),
                    format!("{} is not a positive number of seconds", s.max_age_seconds),
                ));
            }
            if let Some([lo, hi]) = s.range
                && !(lo.is_finite() && hi.is_finite() && lo < hi)
            {
                problems.push(problem(
                    &at("range"),
                    format!("[{lo}, {hi}] is not a range: expected [min, max] with min < max"),
                ));
            }
            for (field, t) in [("warning", &s.warning), ("alarm", &s.alarm)] {
                let Some(t) = t else { continue };
                if t.above.is_none() && t.below.is_none() {
                    problems.push(problem(&at(field), "needs \"above\", \"below\" or both"));
                }
                for (bound, v) in [("above", t.above), ("below", t.below)] {
                    if v.is_some_and(|v| !v.is_finite()) {
                        problems.push(problem(&at(&format!("{field}.{bound}")), "must be finite"));
                    }
                }
                if let (Some(a), Some(b)) = (t.above, t.below)
                    && b >= a
                {
                    problems.push(problem(
                        &at(field),
                        format!("below ({b}) must be less than above ({a})"),
                    ));
                }
            }
            // An alarm must be reached only after the warning it escalates.
            if let (Some(w), Some(a)) = (s.warning, s.alarm) {
                if let (Some(wa), Some(aa)) = (w.above, a.above)
                    && aa < wa
                {
                    problems.push(problem(
                        &at("alarm.above"),
                        format!(
                            "{aa} is below warning.above ({wa}); an alarm must escalate a warning"
                        ),
                    ));
                }
                if let (Some(wb), Some(ab)) = (w.below, a.below)
                    && ab > wb
                {
                    problems.push(problem(
                        &at("alarm.below"),
                        format!(
                            "{ab} is above warning.below ({wb}); an alarm must escalate a warning"
                        ),
                    ));
                }
            }
        }
    }

    /// Checks the sensor bindings against the loaded model: every bound node must exist.
    pub fn check_against(&self, model: &TwinModel) -> Vec<ManifestProblem> {
        let model_name = file_name(&model.source_name);
        self.sensors
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.node.trim().is_empty() && model.node_by_name(&s.node).is_none())
            .map(|(i, s)| {
                let hint = closest(&s.node, model.node_names())
                    .map(|c| format!(" (closest: \"{c}\")"))
                    .unwrap_or_default();
                problem(
                    &format!("sensors[{i}].node"),
                    format!("no node \"{}\" in {model_name}{hint}", s.node),
                )
            })
            .collect()
    }

    /// Number of sensors whose node exists in the model.
    pub fn bound_sensor_count(&self, model: &TwinModel) -> usize {
        self.sensors
            .iter()
            .filter(|s| model.node_by_name(&s.node).is_some())
            .count()
    }
}

fn problem(path: &str, message: impl Into<String>) -> ManifestProblem {
    ManifestProblem {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Turns serde_path_to_error's `sensors[3].node` / serde_ignored's `sensors.3.node` into the
/// `sensors[3].node` form users see everywhere.
fn json_path(raw: &str) -> String {
    let raw = raw.trim_start_matches("?.").trim_start_matches('?');
    let mut out = String::new();
    for seg in raw.split('.').filter(|s| !s.is_empty()) {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// serde_json messages end in " at line L column C"; keep that, it helps in big files.
fn describe_serde_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => format!("not valid JSON: {e}"),
        Category::Data | Category::Io => e.to_string(),
    }
}

fn file_name(source: &str) -> &str {
    source.rsplit(['/', '\\']).next().unwrap_or(source)
}

/// The candidate most similar to `name`, if it is similar enough to be a likely typo.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| {
            (
                strsim::normalized_damerau_levenshtein(&name.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests;
