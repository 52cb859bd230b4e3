use std::fmt::Write as _;

use super::*;
use crate::telemetry::Decoded;
use crate::telemetry::json::tests as adapter;

/// `a` without the fast path.
fn general(a: &JsonAdapter) -> JsonAdapter {
    let mut g = a.clone();
    g.plan = None;
    g
}

/// Whether the fast path decodes `text` by itself.
fn scanned(a: &JsonAdapter, text: &str) -> bool {
    let Some(plan) = a.plan.clone() else {
        return false;
    };
    let mut order = a.order.clone();
    let (mut out, mut bad) = (Vec::new(), BadInputBatch::new());
    decode(a, &plan, text, adapter::NOW, &mut order, &mut out, &mut bad).is_ok()
}

/// Decodes `text` with and without the fast path: the results must be the same, to the bit
/// (`Debug` tells `-0.0` from `0.0`).
fn both(a: &mut JsonAdapter, text: &str) -> Decoded {
    let mut g = general(a);
    let fast = adapter::decode(a, text);
    let slow = adapter::decode(&mut g, text);
    assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}");
    fast
}

/// Payload configurations and the member names their readings use: id, value, timestamp,
/// quality, and the frame around a list of readings.
struct Case {
    payload: serde_json::Value,
    names: [&'static str; 4],
    wrap: fn(&str) -> String,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            payload: serde_json::json!({}),
            names: ["id", "value", "ts", "q"],
            wrap: |r| format!("[{r}]"),
        },
        Case {
            payload: serde_json::json!({ "readings": "/readings", "timestamp": "/ts", "quality": "/q" }),
            names: ["id", "value", "ts", "q"],
            wrap: |r| format!(r#"{{"seq":1,"readings":[{r}],"meta":{{"a":[1,{{"b":null}}]}}}}"#),
        },
        Case {
            payload: serde_json::json!({ "readings": "/data/items", "id": "/name", "value": "/v", "timestamp": "/t" }),
            names: ["name", "v", "t", "q"],
            wrap: |r| format!(r#"{{"data":{{"n":2,"items":[{r}]}}}}"#),
        },
        Case {
            payload: serde_json::json!({ "readings": "", "timestamp": "/ts" }),
            names: ["id", "value", "ts", "q"],
            wrap: |r| format!(" [ {r} ] "),
        },
        Case {
            payload: serde_json::json!({ "id": "/x", "value": "/x", "quality": "/x" }),
            names: ["x", "x", "ts", "x"],
            wrap: |r| format!("[{r}]"),
        },
    ]
}

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "0.1",
    "0.3",
    "-0.7",
    "4.35",
    "0.07",
    "7",
    "7.0",
    "-7",
    "12.345",
    "42.17",
    "0.30000000000000004",
    "1e2",
    "1E+2",
    "7e0",
    "1e-7",
    "-1.5e-7",
    "9007199254740992",
    "9007199254740993",
    "9007199254740993.5",
    "123456789.123456789",
    "1795615653",
    "1795615653000",
    "1795615653123.4567",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "99999999999999999999.5",
    "0.000000000000000000001",
    "0.0000000000000000000001",
    "1.0000000000000000000000001",
    "1e308",
    "1.7976931348623157e308",
    "2.2250738585072014e-308",
    "5e-324",
    "1e-400",
    "1e999",
    "-1e999",
    "01",
    "-01",
    "00",
    "1.",
    "-",
    ".5",
    "+1",
    "1e",
    "1e+",
    "0x10",
    "1.5e3.2",
    "Infinity",
    "NaN",
];

const TEXTS: &[&str] = &[
    r#""RUNNING""#,
    r#"" 42 ""#,
    r#""1.5 bar""#,
    r#""NaN""#,
    r#""-inf""#,
    r#""""#,
    r#""te\u0073t""#,
    r#""a\\b""#,
    r#""tab\tx""#,
    "\"raw\u{1}control\"",
    "\"\u{e9}t\u{e9} \u{1f600}\"",
    r#""GOOD""#,
    r#"" bad ""#,
    r#""uncertain""#,
    r#""2026-11-25T14:07:33Z""#,
    r#""2026-11-25T14:07:33.25+01:00""#,
    r#""1795615653000""#,
    r#""yesterday""#,
];

const OTHERS: &[&str] = &[
    "null",
    "true",
    "false",
    "{}",
    "[]",
    "[1,2]",
    r#"{"a":[1,{"b":null}]}"#,
    "[1,]",
    r#"{"a":1,}"#,
    r#"{"a"}"#,
    "nul",
    "tru",
];

const IDS: &[&str] = &[
    r#""temp""#,
    r#""p1""#,
    r#""pressure""#,
    r#""state""#,
    r#""nope""#,
    r#""te\u006dp""#,
    r#""""#,
    "7",
    "7.0",
    "-7",
    "-0",
    "7e0",
    "null",
    "{}",
    r#"["temp"]"#,
];

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from.get(self.next() % from.len().max(1))
            .copied()
            .unwrap_or("")
    }

    fn value(&mut self) -> &'static str {
        match self.next() % 4 {
            0 | 1 => self.pick(NUMBERS),
            2 => self.pick(TEXTS),
            _ => self.pick(OTHERS),
        }
    }

    fn ws(&mut self) -> &'static str {
        self.pick(&["", "", "", " ", "\n\t", "\r\n  "])
    }
}

/// A reading of mostly usable members in random order, sometimes with odd ones.
fn random_reading(rng: &mut Lcg, names: [&str; 4]) -> String {
    let [id, value, ts, q] = names;
    let mut members: Vec<String> = Vec::new();
    let good = !rng.next().is_multiple_of(3);
    let id_text = if good {
        rng.pick(&[r#""temp""#, r#""p1""#, r#""state""#, "7"])
    } else {
        rng.pick(IDS)
    };
    if !rng.next().is_multiple_of(16) {
        members.push(format!(r#""{id}":{id_text}"#));
    }
    let v = if good {
        rng.pick(&[
            "21.5",
            "-3",
            "0",
            "1795615653000.25",
            r#""RUNNING""#,
            "true",
            r#""7.5""#,
        ])
    } else {
        rng.value()
    };
    if !rng.next().is_multiple_of(16) {
        members.push(format!(r#""{value}":{v}"#));
    }
    if rng.next().is_multiple_of(2) {
        let t = if good {
            rng.pick(&[
                "1795615653",
                "1795615653000",
                r#""2026-11-25T14:07:33Z""#,
                "null",
            ])
        } else {
            rng.value()
        };
        members.push(format!(r#""{ts}":{t}"#));
    }
    if rng.next().is_multiple_of(3) {
        let text = rng.value();
        members.push(format!(r#""{q}":{text}"#));
    }
    if rng.next().is_multiple_of(4) {
        let text = rng.value();
        members.push(format!(r#""unit":{text}"#));
    }
    if rng.next().is_multiple_of(4) {
        let text = rng.value();
        members.push(format!(r#""extra":{text}"#));
    }
    if rng.next().is_multiple_of(8) {
        // A repeated name: the last one counts.
        members.push(format!(r#""{id}":{}"#, rng.pick(IDS)));
    }
    for i in (1..members.len()).rev() {
        members.swap(i, rng.next() % (i + 1));
    }
    let mut out = String::from("{");
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}{m}{}", rng.ws(), rng.ws());
    }
    out.push('}');
    out
}

#[test]
fn random_frames_decode_the_same_on_both_paths() {
    let mut rng = Lcg(42);
    for case in cases() {
        let (_, mut a) = adapter::setup(case.payload.clone());
        assert!(a.plan.is_some(), "{}", case.payload);
        a.max_message_bytes = usize::MAX;
        let mut fast = 0;
        for _ in 0..3000 {
            let n = rng.next() % 5;
            let readings: Vec<String> = (0..n)
                .map(|_| random_reading(&mut rng, case.names))
                .collect();
            let text = (case.wrap)(&readings.join(","));
            if scanned(&a, &text) {
                fast += 1;
            }
            both(&mut a, &text);
        }
        assert!(fast > 300, "{fast} of 3000 frames on the fast path");
    }
}

#[test]
fn every_number_text_and_id_decodes_the_same_on_both_paths() {
    for case in cases() {
        let (_, mut a) = adapter::setup(case.payload.clone());
        let [id, value, ts, q] = case.names;
        let all: Vec<&str> = NUMBERS.iter().chain(TEXTS).chain(OTHERS).copied().collect();
        for v in &all {
            for reading in [
                format!(r#"{{"{id}":"temp","{value}":{v}}}"#),
                format!(r#"{{"{id}":"temp","{value}":1,"{ts}":{v}}}"#),
                format!(r#"{{"{id}":"temp","{value}":1,"{q}":{v}}}"#),
                format!(r#"{{"{id}":"temp","{value}":1,"unit":{v}}}"#),
                format!(r#"{{"{id}":"temp","{value}":1,"pad":{v}}}"#),
                format!(r#"{{"{id}":{v},"{value}":1}}"#),
            ] {
                both(&mut a, &(case.wrap)(&reading));
            }
        }
        for i in IDS {
            both(
                &mut a,
                &(case.wrap)(&format!(r#"{{"{id}":{i},"{value}":1}}"#)),
            );
        }
    }
}

#[test]
fn frame_structure_decodes_the_same_on_both_paths() {
    let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
    for case in cases() {
        let (_, mut a) = adapter::setup(case.payload.clone());
        a.max_message_bytes = usize::MAX;
        let [id, value, ..] = case.names;
        let good = format!(r#"{{"{id}":"temp","{value}":1}}"#);
        let other = format!(r#"{{"{id}":"state","{value}":2}}"#);
        let ghosts: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"{id}":"ghost{i}","{value}":1}}"#))
            .collect();
        let long_id = format!(r#"{{"{id}":"{}","{value}":1}}"#, "\u{e9}".repeat(500));
        let mut frames = vec![
            (case.wrap)(&good),
            (case.wrap)(&format!("{good},{other}")),
            (case.wrap)(&format!(" \r\n\t{good} ,\n {other}\t")),
            (case.wrap)(&format!("{good},")),
            (case.wrap)(&format!("{good} {other}")),
            (case.wrap)(&format!("1,{good}")),
            (case.wrap)(&format!("[{good}]")),
            (case.wrap)(&format!("{good},null")),
            (case.wrap)(&format!("{good},{{}}")),
            (case.wrap)(&format!("{},{good}", ghosts.join(","))),
            (case.wrap)(&long_id),
            (case.wrap)(&format!(
                r#"{{"{id}":"temp","{value}":1,"pad":{}}}"#,
                deep(40)
            )),
            (case.wrap)(&format!(
                r#"{{"{id}":"temp","{value}":1,"pad":{}}}"#,
                deep(70)
            )),
            (case.wrap)(&format!(
                r#"{{"{id}":"temp","{value}":1,"pad":{}}}"#,
                deep(200)
            )),
            (case.wrap)(&format!(r#"{{"\u0069d":"temp","{value}":1}}"#)),
            (case.wrap)(&format!(
                r#"{{"{id}":"nope","{id}":"temp","{value}":2,"{value}":3,"unit":"a","unit":"b"}}"#
            )),
            (case.wrap)(&good) + " x",
            (case.wrap)(&good) + "\u{c}",
            (case.wrap)(&good) + " \n",
            (case.wrap)(""),
            good.clone(),
            format!("[{good},{other}]"),
            format!(r#"{{"readings":[{good}],"readings":[{other}]}}"#),
            format!(r#"{{"readings":{good}}}"#),
            format!(r#"{{"readings":[{good}]}} "#),
            format!(r#"{{"data":{{"items":[{good}]}},"data":{{}}}}"#),
            format!(r#"{{"data":[{good}]}}"#),
            format!(r#"{{"data":{{"items":{{}}}}}}"#),
            format!(r#"{{"data":{{"x":1}}}}"#),
            "".into(),
            "   ".into(),
            "[".into(),
            "{".into(),
            "null".into(),
            r#""just text""#.into(),
            "42".into(),
            "[]".into(),
            "{}".into(),
        ];
        frames.push(deep(130));
        for text in &frames {
            both(&mut a, text);
        }
    }
}

#[test]
fn usual_frames_take_the_fast_path_and_unknown_ids_do_not_stop_it() {
    let (_, mut a) =
        adapter::setup(serde_json::json!({ "readings": "/readings", "timestamp": "/t" }));
    let text = r#"{"readings":[{"id":"temp","value":42.17,"t":1795615653000},{"id":"ghost","value":1},{"id":"p1","value":"1.5","unit":"bar"},{"id":7,"value":false}]}"#;
    assert!(scanned(&a, text));
    let d = both(&mut a, text);
    assert_eq!(
        d.samples.iter().map(|s| s.sensor).collect::<Vec<_>>(),
        [0, 1, 3]
    );
    assert_eq!(d.samples[0].value, Value::Number(42.17));
    assert_eq!(d.samples[0].source_ms, Some(1_795_615_653_000.0));
    assert_eq!(d.samples[1].unit.as_deref(), Some("bar"));
    assert_eq!(
        adapter::reasons(&d),
        ["UnknownSensor: readings[1]: no sensor has id \"ghost\""]
    );
    let mut counters = crate::telemetry::store::BadInputCounters::new();
    for b in &d.bad {
        counters.record(b);
    }
    assert_eq!(counters.count(BadInputKind::UnknownSensor), 1);
    // A reading the general path reports sends the frame there, with the same result.
    let text = r#"{"readings":[{"id":"temp","value":1},{"id":"temp","value":null}]}"#;
    assert!(!scanned(&a, text));
    assert_eq!(adapter::decode(&mut a, text).samples.len(), 1);
}

#[test]
fn pointers_the_fast_path_cannot_follow_leave_it_off() {
    let (_, a) = adapter::setup(serde_json::json!({ "id": "/meta/id" }));
    assert!(a.plan.is_none(), "a two-token id pointer");
}

#[test]
fn numbers_are_read_as_serde_json_reads_them() {
    let mut rng = Lcg(7);
    let mut texts: Vec<String> = NUMBERS.iter().map(|n| (*n).to_owned()).collect();
    for _ in 0..20_000 {
        let digits = |rng: &mut Lcg, n: usize| -> String {
            (0..n)
                .map(|_| char::from(b'0' + (rng.next() % 10) as u8))
                .collect()
        };
        let int_len = 1 + rng.next() % 17;
        let mut int = digits(&mut rng, int_len);
        if int.len() > 1 && int.starts_with('0') {
            int.replace_range(..1, "1");
        }
        let sign = if rng.next().is_multiple_of(4) {
            "-"
        } else {
            ""
        };
        let frac_len = rng.next() % 24;
        let frac = digits(&mut rng, frac_len);
        let mut text = format!("{sign}{int}");
        if !frac.is_empty() {
            let _ = write!(text, ".{frac}");
        }
        if rng.next().is_multiple_of(8) {
            let _ = write!(text, "e{}", rng.next() % 40);
        }
        texts.push(text);
    }
    for text in &texts {
        let mut s = Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
        };
        let ours = s.number().ok().filter(|_| s.i == text.len());
        let theirs = serde_json::from_str::<serde_json::Number>(text).ok();
        assert_eq!(
            ours.map(|n| n.value.to_bits()),
            theirs
                .as_ref()
                .and_then(serde_json::Number::as_f64)
                .map(f64::to_bits),
            "{text}"
        );
        // An integer id is looked up by its text: serde_json must print it the same.
        if let (Some(n), Some(t)) = (ours, &theirs)
            && n.integer
        {
            assert_eq!(t.to_string(), *text);
        }
    }
}

#[test]
fn a_source_the_fast_path_cannot_read_is_still_tried_now_and_then() {
    let (_, mut a) = adapter::setup(serde_json::json!({}));
    let escaped = r#"[{"id":"te\u006dp","value":1}]"#;
    let plain = r#"[{"id":"temp","value":2}]"#;
    for _ in 0..40 {
        assert_eq!(both(&mut a, escaped).samples.len(), 1);
    }
    assert!(a.missed >= 40);
    let mut frames = 0;
    while a.missed > 0 {
        assert_eq!(both(&mut a, plain).samples.len(), 1);
        frames += 1;
        assert!(
            frames <= super::super::RETRY_FAST_EVERY,
            "the fast path is tried again"
        );
    }
}
