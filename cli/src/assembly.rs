//! A CAD-like test assembly for plant-scale rendering (`twinlens gen-assembly`): one GLB shaped
//! like a CAD export of a plant area, and optionally a manifest binding sensors to its parts.
//!
//! CAD exporters write every part as its own node with its own mesh (no mesh reuse, sizes baked
//! into the vertices) under a hierarchy of units and sub-units, with a handful of plain
//! materials. That is the worst case for a viewer that draws node by node, which is the point:
//! the file tests batching, culling of spatial chunks, picking and tinting at scale.
//!
//! Layout (all numbers fixed, so counts follow from `--parts` alone):
//! - root `Assembly` (carries `--offset-km` as a translation along +X, for precision tests);
//! - units `U00`, `U01`, … on a floor grid [`UNIT_PITCH_M`] apart, each of at most
//!   [`SUB_UNITS_PER_UNIT`] sub-units `U00/S00` … on a 4 × 4 grid (skids, turned by quarter
//!   turns; sub-unit 1 of unit 0 is mirrored with scale −1 on X);
//! - parts `U00/S00/P0000` … (global part number), at most [`PARTS_PER_SUB_UNIT`] per
//!   sub-unit: a base plate, then boxes, cylinders, flanges, pipes and bent sheets with varied
//!   sizes, rotations and some non-uniform node scales.
//!
//! Nodes are written depth first (root, unit, its sub-units each followed by its parts), so
//! node count = 1 + units + sub-units + parts and the hierarchy is 3 levels below the root.
//! Geometry sits in three shared buffer views (positions, normals, u16 indices) as exporters
//! that pack buffers do. Everything is deterministic: the same arguments give the same bytes.

use std::f32::consts::{FRAC_PI_2, TAU};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde_json::{Value, json};

use crate::bench_plant::{Rng, with_live_source, write_glb_chunks};

/// Parts per sub-unit (the last sub-unit may hold fewer).
pub const PARTS_PER_SUB_UNIT: usize = 24;
/// Sub-units per unit (the last unit may hold fewer).
pub const SUB_UNITS_PER_UNIT: usize = 16;
/// Most parts `--parts` accepts: 200,000 parts are about 11.5 M vertices, inside the viewer's
/// 16 M-vertex limit for one model, and about 400 MB of GLB.
pub const MAX_PARTS: usize = 200_000;
/// Most sensors `--sensors` accepts: 50,000 keep the manifest under the viewer's 16 MB limit.
pub const MAX_SENSORS: usize = 50_000;
/// Largest `--offset-km`, either sign (half the Earth's circumference).
pub const MAX_OFFSET_KM: f64 = 20_000.0;
/// Distance between unit centres on the floor grid, metres.
pub const UNIT_PITCH_M: f32 = 34.0;
/// Distance between sub-unit centres inside a unit, metres.
const SUB_PITCH_M: f32 = 7.0;
/// Distance between part slots on a skid, metres.
const SLOT_PITCH_M: f32 = 0.9;
/// Half extents of the base plate every sub-unit starts with, metres.
const BASE_PLATE: [f32; 3] = [2.8, 0.075, 1.9];
/// The one mirrored sub-unit (global sub-unit index, clamped to the sub-units there are).
const MIRRORED_SUB_UNIT: usize = 1;

const SEED: u64 = 0xCAD0_A55E_0B1E_C75D;

/// Materials: name, linear base colour, metallic, roughness, double-sided. Untextured, shared by
/// all parts; sheets (open surfaces) use the double-sided ones.
const MATERIALS: [(&str, [f32; 3], f32, f32, bool); 9] = [
    ("Steel_PaintedGrey", [0.42, 0.45, 0.48], 0.3, 0.55, false),
    ("Steel_Stainless", [0.70, 0.70, 0.72], 1.0, 0.25, false),
    ("Paint_SafetyYellow", [0.85, 0.58, 0.02], 0.0, 0.45, false),
    ("Paint_PipeGreen", [0.07, 0.28, 0.11], 0.1, 0.60, false),
    ("Iron_Cast", [0.10, 0.10, 0.11], 0.7, 0.80, false),
    ("Copper", [0.70, 0.33, 0.18], 1.0, 0.35, false),
    ("Sheet_Galvanised", [0.55, 0.57, 0.58], 0.8, 0.50, true),
    ("Guard_Blue", [0.05, 0.17, 0.42], 0.0, 0.50, true),
    ("Grating_Orange", [0.80, 0.28, 0.04], 0.2, 0.70, true),
];

/// What sensors measure, cycled through: key, name, unit, warning and alarm thresholds. Values
/// run 0..100 as `bench/feed.mjs` sends them; one quantity alarms low instead of high.
const QUANTITIES: [(&str, &str, &str, &str, f64, f64); 5] = [
    ("temp", "Temperature", "°C", "above", 80.0, 95.0),
    ("pressure", "Pressure", "bar", "above", 80.0, 95.0),
    ("vibration", "Vibration", "mm/s", "above", 80.0, 95.0),
    ("flow", "Flow", "m³/h", "below", 15.0, 5.0),
    ("load", "Load", "%", "above", 80.0, 95.0),
];

/// `twinlens gen-assembly` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct AssemblyArgs {
    /// Parts in the assembly, each its own node and mesh (1 to 200,000).
    #[arg(long, value_name = "N")]
    parts: usize,
    /// The GLB to write (folders are created).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Sensors bound to parts, spread evenly over them (0 to 50,000; needs --manifest-out).
    #[arg(long, value_name = "M", default_value_t = 0)]
    sensors: usize,
    /// Also write a twin manifest (.twin.json) whose model.url points at --out.
    #[arg(long, value_name = "FILE")]
    manifest_out: Option<PathBuf>,
    /// Give the manifest a `json` live source at this WebSocket URL (bench/feed.mjs format).
    #[arg(long, value_name = "URL", requires = "manifest_out")]
    feed_url: Option<String>,
    /// Move the whole assembly this many kilometres along +X (in the root node).
    #[arg(
        long,
        value_name = "X",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    offset_km: f64,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the command: exit 0 when written, 2 for bad arguments, 1 when a file cannot be written.
pub fn run(args: &AssemblyArgs) -> ExitCode {
    if let Err(e) = check_args(args) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let assembly = build(args.parts, args.offset_km);
    if let Err(e) = write_file(&args.out, |w| assembly.write_glb(w)) {
        eprintln!("error: cannot write {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let bytes = assembly.glb_len();
    if let Some(path) = &args.manifest_out {
        let url = relative_url(&args.out, path);
        let mut text = manifest(&assembly.layout, &url, args.sensors);
        if let Some(feed) = &args.feed_url {
            text = with_live_source(&text, feed);
        }
        if let Err(e) = write_file(path, |w| w.write_all(text.as_bytes())) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let l = &assembly.layout;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let [lo, hi] = assembly.bounds.map(|c| c.map(short));
        let offset_m = args.offset_km * 1000.0;
        let summary = json!({
            "out": args.out.display().to_string(),
            "bytes": bytes,
            "nodes": l.nodes(),
            "units": l.units,
            "subUnits": l.sub_units,
            "parts": l.parts,
            "meshes": l.parts,
            "depth": 3,
            "triangles": assembly.triangles,
            "vertices": assembly.vertices,
            "bounds": {
                "min": [lo[0] + offset_m, lo[1], lo[2]],
                "max": [hi[0] + offset_m, hi[1], hi[2]]
            },
            "materials": MATERIALS.len(),
            "offsetKm": args.offset_km,
            "manifest": args.manifest_out.as_ref().map(|p| p.display().to_string()),
            "sensors": if args.manifest_out.is_some() { args.sensors } else { 0 },
            "seconds": seconds,
        });
        println!("{summary}");
    } else {
        println!(
            "wrote {} ({bytes} bytes, {:.1} s): 1 root + {} units + {} sub-units + {} parts = {} nodes, {} triangles",
            args.out.display(),
            seconds,
            l.units,
            l.sub_units,
            l.parts,
            l.nodes(),
            assembly.triangles
        );
        if let Some(path) = &args.manifest_out {
            println!("wrote {} ({} sensors)", path.display(), args.sensors);
        }
    }
    ExitCode::SUCCESS
}

/// Every argument problem, in one message that says what is accepted.
fn check_args(args: &AssemblyArgs) -> Result<(), String> {
    if args.parts == 0 {
        return Err("--parts 0: an assembly needs at least 1 part".into());
    }
    if args.parts > MAX_PARTS {
        return Err(format!(
            "--parts {} is above the cap of {MAX_PARTS} parts (the viewer loads at most 16 M \
             vertices per model; {MAX_PARTS} parts stay under it)",
            args.parts
        ));
    }
    if args.sensors > MAX_SENSORS {
        return Err(format!(
            "--sensors {} is above the cap of {MAX_SENSORS} sensors (a manifest may be at most \
             16 MB)",
            args.sensors
        ));
    }
    if args.sensors > 0 && args.manifest_out.is_none() {
        return Err(format!(
            "--sensors {} needs --manifest-out FILE.twin.json: sensors live in the manifest",
            args.sensors
        ));
    }
    if !(args.offset_km.is_finite() && args.offset_km.abs() <= MAX_OFFSET_KM) {
        return Err(format!(
            "--offset-km {} must be a finite number of kilometres between -{MAX_OFFSET_KM} and \
             {MAX_OFFSET_KM}",
            args.offset_km
        ));
    }
    Ok(())
}

/// Writes a file through a buffer, creating its folder first.
fn write_file(
    path: &Path,
    f: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    f(&mut w)?;
    w.flush()
}

/// The URL of `model` as seen from the manifest at `manifest` (relative, `/`-separated).
fn relative_url(model: &Path, manifest: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let normal = |p: PathBuf| {
        p.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    let to = normal(abs(model));
    let from = normal(abs(manifest.parent().unwrap_or(Path::new("."))));
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n("..".to_owned(), from.len() - common);
    ups.chain(to[common..].iter().cloned())
        .collect::<Vec<_>>()
        .join("/")
        .replace(' ', "%20")
}

// ---------------------------------------------------------------------------------------------
// Layout.

/// How many units and sub-units `parts` parts make, and the names of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Parts.
    pub parts: usize,
    /// Sub-units (skids) of at most [`PARTS_PER_SUB_UNIT`] parts.
    pub sub_units: usize,
    /// Units of at most [`SUB_UNITS_PER_UNIT`] sub-units.
    pub units: usize,
}

impl Layout {
    /// The layout of `parts` parts (at least 1).
    pub fn new(parts: usize) -> Layout {
        let parts = parts.max(1);
        let sub_units = parts.div_ceil(PARTS_PER_SUB_UNIT);
        Layout {
            parts,
            sub_units,
            units: sub_units.div_ceil(SUB_UNITS_PER_UNIT),
        }
    }

    /// Nodes in the file: root, units, sub-units and parts.
    pub fn nodes(&self) -> usize {
        1 + self.units + self.sub_units + self.parts
    }

    /// Unit `u`'s place on the floor grid (its node's translation; units are not turned).
    pub fn unit_translation(&self, u: usize) -> [f32; 3] {
        let cols = (self.units as f64).sqrt().ceil() as usize;
        let rows = self.units.div_ceil(cols);
        [
            centred(u % cols, cols, UNIT_PITCH_M),
            0.0,
            centred(u / cols, rows, UNIT_PITCH_M),
        ]
    }

    /// Sub-unit `s`'s translation, quarter turn about Y and scale (−1 on X for the mirrored
    /// one) inside its unit.
    pub fn sub_unit_transform(&self, s: usize) -> ([f32; 3], [f32; 4], [f32; 3]) {
        let local = s % SUB_UNITS_PER_UNIT;
        let t = [
            centred(local % 4, 4, SUB_PITCH_M),
            0.0,
            centred(local / 4, 4, SUB_PITCH_M),
        ];
        let quarter = Rng(SEED ^ s as u64).next() % 4;
        let r = axis_angle([0.0, 1.0, 0.0], quarter as f32 * FRAC_PI_2);
        let mirrored = s == MIRRORED_SUB_UNIT.min(self.sub_units - 1);
        let scale = if mirrored { [-1.0, 1.0, 1.0] } else { [1.0; 3] };
        (t, r, scale)
    }

    fn unit_name(&self, u: usize) -> String {
        format!("U{u:0w$}", w = digits(self.units - 1).max(2))
    }

    fn sub_unit_name(&self, s: usize) -> String {
        let u = s / SUB_UNITS_PER_UNIT;
        format!("{}/S{:02}", self.unit_name(u), s % SUB_UNITS_PER_UNIT)
    }

    /// Name of part `p`: `U03/S12/P0457` (its unit, sub-unit within the unit, part number).
    pub fn part_name(&self, p: usize) -> String {
        let s = p / PARTS_PER_SUB_UNIT;
        format!(
            "{}/P{p:0w$}",
            self.sub_unit_name(s),
            w = digits(self.parts - 1).max(4)
        )
    }
}

/// Position `i` of `n` evenly spaced `pitch` apart, centred on 0.
fn centred(i: usize, n: usize, pitch: f32) -> f32 {
    (i as f32 - (n - 1) as f32 * 0.5) * pitch
}

fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

// ---------------------------------------------------------------------------------------------
// Parts.

/// A part's shape in its own frame (Y up), sizes in metres.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Half extents.
    Cuboid([f32; 3]),
    /// Radius, height, segments.
    Cylinder(f32, f32, usize),
    /// Outer radius, inner radius, height, segments: flanges (short) and pipes (long).
    Ring(f32, f32, f32, usize),
    /// Width, height and depth of its bent-over leg: an open L-shaped sheet.
    Sheet(f32, f32, f32),
}

/// One part: shape, material and transform relative to its sub-unit. `translation[1]` is
/// first the height the part rests at (its lowest point); [`Part::rest`] turns it into the
/// node's translation once the geometry is known.
struct Part {
    shape: Shape,
    material: usize,
    translation: [f32; 3],
    rotation: [f32; 4],
    scale: [f32; 3],
}

/// Rounds to millimetres, as CAD dimensions are.
fn mm(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[(rng.next() % items.len() as u64) as usize]
}

/// Segments for a round part: 16 for small radii up to 24 for large ones.
fn segments(radius: f32) -> usize {
    (16.0 + 8.0 * ((radius - 0.05) / 0.35).clamp(0.0, 1.0)).round() as usize
}

/// Unit quaternion for `angle` radians about the unit vector `axis`.
fn axis_angle(axis: [f32; 3], angle: f32) -> [f32; 4] {
    let (s, c) = (angle * 0.5).sin_cos();
    [axis[0] * s, axis[1] * s, axis[2] * s, c]
}

/// Hamilton product `a · b` (apply `b`, then `a`).
fn quat_mul(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
    [
        a[3] * b[0] + a[0] * b[3] + a[1] * b[2] - a[2] * b[1],
        a[3] * b[1] - a[0] * b[2] + a[1] * b[3] + a[2] * b[0],
        a[3] * b[2] + a[0] * b[1] - a[1] * b[0] + a[2] * b[3],
        a[3] * b[3] - a[0] * b[0] - a[1] * b[1] - a[2] * b[2],
    ]
}

impl Part {
    /// Raises or lowers the part so its lowest point, turned and scaled as its node says, sits
    /// at the rest height (on the base plate, on a support, or on the floor), never below it.
    fn rest(&mut self, positions: &[[f32; 3]]) {
        let low = positions
            .iter()
            .map(|v| rotate(self.rotation, [0, 1, 2].map(|k| v[k] * self.scale[k]))[1])
            .fold(f32::INFINITY, f32::min);
        self.translation[1] = ((self.translation[1] - low) * 1000.0).ceil() / 1000.0;
    }
}

/// A node's translation, rotation and scale applied to point `v`.
fn apply(t: [f32; 3], r: [f32; 4], s: [f32; 3], v: [f32; 3]) -> [f32; 3] {
    let w = rotate(r, [0, 1, 2].map(|k| v[k] * s[k]));
    [0, 1, 2].map(|k| w[k] + t[k])
}

/// `v` turned by the unit quaternion `q`.
fn rotate(q: [f32; 4], v: [f32; 3]) -> [f32; 3] {
    let cross = |a: [f32; 3], b: [f32; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let u = [q[0], q[1], q[2]];
    let t = cross(u, v).map(|c| 2.0 * c);
    let ut = cross(u, t);
    [0, 1, 2].map(|k| v[k] + q[3] * t[k] + ut[k])
}

/// Part `p`, drawn from its own generator so each part depends on its number alone.
fn part(p: usize) -> Part {
    let mut rng = Rng(Rng(SEED.wrapping_add(p as u64)).next());
    let slot = p % PARTS_PER_SUB_UNIT;
    if slot == 0 {
        return Part {
            shape: Shape::Cuboid(BASE_PLATE),
            material: 0,
            translation: [0.0; 3],
            rotation: [0.0, 0.0, 0.0, 1.0],
            scale: [1.0; 3],
        };
    }
    let roll = rng.range(0.0, 1.0);
    let (shape, material) = if roll < 0.45 {
        // Plates, beams and blocks.
        let kind = rng.next() % 3;
        let half = match kind {
            0 => [
                rng.range(0.15, 0.4),
                rng.range(0.01, 0.03),
                rng.range(0.1, 0.35),
            ],
            1 => [
                rng.range(0.03, 0.08),
                rng.range(0.2, 0.7),
                rng.range(0.03, 0.08),
            ],
            _ => [
                rng.range(0.08, 0.3),
                rng.range(0.08, 0.3),
                rng.range(0.08, 0.3),
            ],
        };
        (Shape::Cuboid(half.map(mm)), pick(&mut rng, &[0, 2, 4, 1]))
    } else if roll < 0.70 {
        let r = mm(rng.range(0.04, 0.4));
        let h = mm(rng.range(0.2, 1.4));
        (
            Shape::Cylinder(r, h, segments(r)),
            pick(&mut rng, &[1, 3, 5, 0]),
        )
    } else if roll < 0.82 {
        let ro = mm(rng.range(0.1, 0.35));
        let ri = mm(ro * rng.range(0.5, 0.7));
        let t = mm(rng.range(0.02, 0.06));
        (
            Shape::Ring(ro, ri, t, segments(ro)),
            pick(&mut rng, &[4, 1, 0]),
        )
    } else if roll < 0.88 {
        let ro = mm(rng.range(0.05, 0.15));
        let ri = mm(ro - rng.range(0.006, 0.015));
        let len = mm(rng.range(0.8, 2.4));
        (
            Shape::Ring(ro, ri, len, segments(ro)),
            pick(&mut rng, &[3, 1, 5]),
        )
    } else {
        let w = mm(rng.range(0.3, 0.8));
        let h = mm(rng.range(0.3, 0.9));
        let leg = mm(rng.range(0.05, 0.2));
        (Shape::Sheet(w, h, leg), pick(&mut rng, &[6, 7, 8]))
    };

    // Slot on a 6 × 4 grid over the base plate, a little off-grid, some raised on supports.
    let (col, row) = ((slot - 1) % 6, (slot - 1) / 6);
    let lift = if rng.range(0.0, 1.0) < 0.3 {
        rng.range(0.3, 1.2)
    } else {
        0.0
    };
    let translation = [
        mm((col as f32 - 2.5) * SLOT_PITCH_M + rng.range(-0.15, 0.15)),
        2.0 * BASE_PLATE[1] + lift,
        mm((row as f32 - 1.5) * SLOT_PITCH_M + rng.range(-0.15, 0.15)),
    ];
    // Yaw in 15° steps; long round parts often lie down; a few sit at any angle.
    let yaw = axis_angle([0.0, 1.0, 0.0], (rng.next() % 24) as f32 * TAU / 24.0);
    let lying = match shape {
        Shape::Cylinder(..) => true,
        Shape::Ring(_, _, h, _) => h > 0.5,
        _ => false,
    } && rng.range(0.0, 1.0) < 0.5;
    let mut rotation = if lying {
        quat_mul(yaw, axis_angle([1.0, 0.0, 0.0], FRAC_PI_2))
    } else {
        yaw
    };
    if rng.range(0.0, 1.0) < 0.1 {
        let v = [
            rng.range(-1.0, 1.0),
            rng.range(-1.0, 1.0),
            rng.range(-1.0, 1.0),
        ];
        let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-3);
        let tilt = axis_angle(v.map(|c| c / len), rng.range(0.2, 1.2));
        rotation = quat_mul(tilt, rotation);
    }
    let scale = if rng.range(0.0, 1.0) < 0.25 {
        [0; 3].map(|_| (rng.range(0.6, 1.6) * 20.0).round() / 20.0)
    } else {
        [1.0; 3]
    };
    Part {
        shape,
        material,
        translation,
        rotation,
        scale,
    }
}

/// A part's triangles in its own frame: positions, normals (hard edges split vertices, as CAD
/// tessellators write them) and counter-clockwise (seen from outside) u16 indices.
#[derive(Default)]
struct PartMesh {
    positions: Vec<[f32; 3]>,
    normals: Vec<[f32; 3]>,
    indices: Vec<u16>,
}

impl PartMesh {
    fn clear(&mut self) {
        self.positions.clear();
        self.normals.clear();
        self.indices.clear();
    }

    #[expect(
        clippy::expect_used,
        reason = "a generated part has far fewer than 65,536 vertices"
    )]
    fn vertex(&mut self, p: [f32; 3], n: [f32; 3]) -> u16 {
        self.positions.push(p);
        self.normals.push(n);
        u16::try_from(self.positions.len() - 1).expect("a part has under 65,536 vertices")
    }

    /// A flat quad `a b c d`, counter-clockwise seen from the side `n` points to.
    fn quad(&mut self, corners: [[f32; 3]; 4], n: [f32; 3]) {
        let [a, b, c, d] = corners.map(|p| self.vertex(p, n));
        self.indices.extend_from_slice(&[a, b, c, a, c, d]);
    }

    fn build(&mut self, shape: Shape) {
        self.clear();
        match shape {
            Shape::Cuboid(h) => {
                for axis in 0..3 {
                    let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
                    for sign in [-1.0f32, 1.0] {
                        // (u, v) corners counter-clockwise about +axis; reversed for -axis.
                        let mut uv = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
                        if sign < 0.0 {
                            uv.reverse();
                        }
                        let corners = uv.map(|(su, sv): (f32, f32)| {
                            let mut p = [0.0; 3];
                            p[axis] = sign * h[axis];
                            p[u] = su * h[u];
                            p[v] = sv * h[v];
                            p
                        });
                        let mut n = [0.0; 3];
                        n[axis] = sign;
                        self.quad(corners, n);
                    }
                }
            }
            // Round parts are centred on their axis, as turned parts are drawn.
            Shape::Cylinder(r, h, seg) => {
                let y = h * 0.5;
                self.revolve(&[(0.0, -y), (r, -y), (r, y), (0.0, y)], seg);
            }
            Shape::Ring(ro, ri, h, seg) => {
                let y = h * 0.5;
                self.revolve(&[(ri, -y), (ro, -y), (ro, y), (ri, y), (ri, -y)], seg);
            }
            Shape::Sheet(w, h, leg) => {
                let x = w * 0.5;
                self.quad(
                    [[-x, 0.0, 0.0], [x, 0.0, 0.0], [x, h, 0.0], [-x, h, 0.0]],
                    [0.0, 0.0, 1.0],
                );
                self.quad(
                    [[-x, 0.0, 0.0], [-x, 0.0, leg], [x, 0.0, leg], [x, 0.0, 0.0]],
                    [0.0, 1.0, 0.0],
                );
            }
        }
    }

    /// Sweeps the (radius, height) `profile` about +Y in `seg` segments, one band per profile
    /// edge with that edge's own normal, so every profile corner is a hard edge. A point on the
    /// axis (radius 0) becomes one centre vertex (a fan), so no triangle is degenerate.
    fn revolve(&mut self, profile: &[(f32, f32)], seg: usize) {
        let ring = |mesh: &mut PartMesh, r: f32, y: f32, n: (f32, f32)| -> u16 {
            if r == 0.0 {
                return mesh.vertex([0.0, y, 0.0], [0.0, n.1, 0.0]);
            }
            let mut first = 0;
            for s in 0..=seg {
                // The seam reuses the start angle exactly so the ring closes without a crack.
                let (sin, cos) = (TAU * (s % seg) as f32 / seg as f32).sin_cos();
                let i = mesh.vertex([r * cos, y, r * sin], [n.0 * cos, n.1, n.0 * sin]);
                if s == 0 {
                    first = i;
                }
            }
            first
        };
        for edge in profile.windows(2) {
            let [(r0, y0), (r1, y1)] = [edge[0], edge[1]];
            let (dr, dy) = (r1 - r0, y1 - y0);
            let len = (dr * dr + dy * dy).sqrt();
            let n = (dy / len, -dr / len);
            let a0 = ring(self, r0, y0, n);
            let b0 = ring(self, r1, y1, n);
            for s in 0..seg as u16 {
                let (a, a1) = if r0 == 0.0 {
                    (a0, a0)
                } else {
                    (a0 + s, a0 + s + 1)
                };
                let (b, b1) = if r1 == 0.0 {
                    (b0, b0)
                } else {
                    (b0 + s, b0 + s + 1)
                };
                if r0 != 0.0 {
                    self.indices.extend_from_slice(&[a, b, a1]);
                }
                if r1 != 0.0 {
                    self.indices.extend_from_slice(&[a1, b, b1]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file.

/// A generated assembly: the glTF JSON and binary chunk, kept apart so the binary is written
/// without joining it in memory.
pub struct Assembly {
    /// Counts.
    pub layout: Layout,
    /// Triangles in all parts.
    pub triangles: u64,
    /// Vertices in all parts.
    pub vertices: u64,
    /// Smallest and largest corner of all vertices in the root's space, metres, before the
    /// root's `--offset-km` translation (add it on X).
    pub bounds: [[f32; 3]; 2],
    json: Vec<u8>,
    positions: Vec<u8>,
    normals: Vec<u8>,
    indices: Vec<u8>,
}

impl Assembly {
    /// Writes the GLB.
    pub fn write_glb(&self, out: &mut impl Write) -> std::io::Result<()> {
        write_glb_chunks(
            out,
            &self.json,
            &[&self.positions, &self.normals, &self.indices],
        )
    }

    /// Size of the GLB in bytes.
    pub fn glb_len(&self) -> usize {
        let bin = self.positions.len() + self.normals.len() + self.indices.len();
        28 + self.json.len().next_multiple_of(4) + bin.next_multiple_of(4)
    }
}

/// Appends `items` to `out` as a JSON array member `"key":[...]` preceded by a comma.
fn push_array(out: &mut Vec<u8>, key: &str, items: &[u8]) {
    out.extend_from_slice(format!(",\"{key}\":[").as_bytes());
    out.extend_from_slice(items);
    out.push(b']');
}

/// Appends one JSON value to a comma-separated list.
#[expect(
    clippy::expect_used,
    reason = "serialising a JSON value into memory cannot fail"
)]
fn push_item(list: &mut Vec<u8>, v: &Value) {
    if !list.is_empty() {
        list.push(b',');
    }
    serde_json::to_writer(&mut *list, v).expect("JSON writes into memory");
}

/// The f64 whose shortest text is `v`'s shortest text, so JSON carries `0.075`, not the
/// widened `0.07500000298023224` (readers parse it back to the same f32).
fn short(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// A node's transform members, identity parts left out. `translation` is f64 so a large
/// `--offset-km` keeps every digit in the file.
fn transform(node: &mut Value, translation: [f64; 3], rotation: [f32; 4], scale: [f32; 3]) {
    if translation != [0.0; 3] {
        node["translation"] = json!(translation);
    }
    if rotation != [0.0, 0.0, 0.0, 1.0] {
        node["rotation"] = json!(rotation.map(short));
    }
    if scale != [1.0; 3] {
        node["scale"] = json!(scale.map(short));
    }
}

/// Builds the assembly of `parts` parts (1 to [`MAX_PARTS`]) moved `offset_km` along +X.
#[expect(
    clippy::expect_used,
    reason = "serialising values built in memory cannot fail"
)]
pub fn build(parts: usize, offset_km: f64) -> Assembly {
    let layout = Layout::new(parts);
    let mut positions = Vec::new();
    let mut normals = Vec::new();
    let mut indices = Vec::new();
    let mut accessors = Vec::new();
    let mut meshes = Vec::new();
    let (mut triangles, mut vertices) = (0u64, 0u64);
    let mut mesh = PartMesh::default();
    let mut specs = Vec::with_capacity(layout.parts);
    let mut bounds = [[f32::INFINITY; 3], [f32::NEG_INFINITY; 3]];
    for p in 0..layout.parts {
        let mut spec = part(p);
        mesh.build(spec.shape);
        spec.rest(&mesh.positions);
        let s = p / PARTS_PER_SUB_UNIT;
        let (sub_t, sub_r, sub_s) = layout.sub_unit_transform(s);
        let unit_t = layout.unit_translation(s / SUB_UNITS_PER_UNIT);
        for v in &mesh.positions {
            let w = apply(spec.translation, spec.rotation, spec.scale, *v);
            let w = apply(sub_t, sub_r, sub_s, w);
            for k in 0..3 {
                bounds[0][k] = bounds[0][k].min(w[k] + unit_t[k]);
                bounds[1][k] = bounds[1][k].max(w[k] + unit_t[k]);
            }
        }
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for v in &mesh.positions {
            for c in 0..3 {
                lo[c] = lo[c].min(v[c]);
                hi[c] = hi[c].max(v[c]);
            }
        }
        let count = mesh.positions.len();
        push_item(
            &mut accessors,
            &json!({ "bufferView": 0, "byteOffset": positions.len(), "componentType": 5126,
                     "count": count, "type": "VEC3", "min": lo.map(short), "max": hi.map(short) }),
        );
        push_item(
            &mut accessors,
            &json!({ "bufferView": 1, "byteOffset": normals.len(), "componentType": 5126,
                     "count": count, "type": "VEC3" }),
        );
        push_item(
            &mut accessors,
            &json!({ "bufferView": 2, "byteOffset": indices.len(), "componentType": 5123,
                     "count": mesh.indices.len(), "type": "SCALAR" }),
        );
        positions.extend(
            mesh.positions
                .iter()
                .flatten()
                .flat_map(|f| f.to_le_bytes()),
        );
        normals.extend(mesh.normals.iter().flatten().flat_map(|f| f.to_le_bytes()));
        indices.extend(mesh.indices.iter().flat_map(|i| i.to_le_bytes()));
        push_item(
            &mut meshes,
            &json!({
                "name": layout.part_name(p),
                "primitives": [{
                    "attributes": { "POSITION": 3 * p, "NORMAL": 3 * p + 1 },
                    "indices": 3 * p + 2,
                    "material": spec.material
                }]
            }),
        );
        triangles += mesh.indices.len() as u64 / 3;
        vertices += count as u64;
        specs.push(spec);
    }

    let nodes = nodes_json(&layout, &specs, offset_km);
    let materials: Vec<Value> = MATERIALS
        .iter()
        .map(|(name, rgb, metallic, roughness, double_sided)| {
            let mut m = json!({
                "name": name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": [short(rgb[0]), short(rgb[1]), short(rgb[2]), 1.0],
                    "metallicFactor": short(*metallic),
                    "roughnessFactor": short(*roughness)
                }
            });
            if *double_sided {
                m["doubleSided"] = json!(true);
            }
            m
        })
        .collect();
    let (pos_len, nrm_len) = (positions.len(), normals.len());
    let views = json!([
        { "name": "positions", "buffer": 0, "byteOffset": 0, "byteLength": pos_len,
          "byteStride": 12, "target": 34962 },
        { "name": "normals", "buffer": 0, "byteOffset": pos_len, "byteLength": nrm_len,
          "byteStride": 12, "target": 34962 },
        { "name": "indices", "buffer": 0, "byteOffset": pos_len + nrm_len,
          "byteLength": indices.len(), "target": 34963 }
    ]);
    let bin_len = (pos_len + nrm_len + indices.len()).next_multiple_of(4);

    let mut doc = Vec::with_capacity(nodes.len() + meshes.len() + accessors.len() + 4096);
    let head = json!({ "version": "2.0", "generator": "twinlens gen-assembly" });
    doc.extend_from_slice(format!("{{\"asset\":{head},\"scene\":0").as_bytes());
    doc.extend_from_slice(br#","scenes":[{"name":"Assembly","nodes":[0]}]"#);
    push_array(&mut doc, "nodes", &nodes);
    push_array(&mut doc, "meshes", &meshes);
    let materials = serde_json::to_string(&materials).expect("JSON");
    doc.extend_from_slice(format!(",\"materials\":{materials}").as_bytes());
    push_array(&mut doc, "accessors", &accessors);
    doc.extend_from_slice(format!(",\"bufferViews\":{views}").as_bytes());
    doc.extend_from_slice(format!(",\"buffers\":[{{\"byteLength\":{bin_len}}}]}}").as_bytes());
    Assembly {
        layout,
        triangles,
        vertices,
        bounds,
        json: doc,
        positions,
        normals,
        indices,
    }
}

/// The node list, depth first: root, then each unit followed by its sub-units, each followed by
/// its parts (part `p` uses mesh `p`).
fn nodes_json(layout: &Layout, parts: &[Part], offset_km: f64) -> Vec<u8> {
    let per_unit = SUB_UNITS_PER_UNIT;
    let per_sub = PARTS_PER_SUB_UNIT;
    let subs_of = |u: usize| u * per_unit..((u + 1) * per_unit).min(layout.sub_units);
    let parts_of = |s: usize| s * per_sub..((s + 1) * per_sub).min(layout.parts);
    // Node index of sub-unit `s` and unit `u` in depth-first order.
    let sub_index = |s: usize| 1 + s / per_unit + 1 + s + s * per_sub;
    let unit_index = |u: usize| sub_index(u * per_unit) - 1;
    const IDENTITY: [f32; 4] = [0.0, 0.0, 0.0, 1.0];

    let mut out = Vec::new();
    let mut root = json!({
        "name": "Assembly",
        "children": (0..layout.units).map(unit_index).collect::<Vec<_>>()
    });
    transform(
        &mut root,
        [offset_km * 1000.0, 0.0, 0.0],
        IDENTITY,
        [1.0; 3],
    );
    push_item(&mut out, &root);
    for u in 0..layout.units {
        let mut unit = json!({
            "name": layout.unit_name(u),
            "children": subs_of(u).map(sub_index).collect::<Vec<_>>()
        });
        let t = layout.unit_translation(u);
        transform(&mut unit, t.map(short), IDENTITY, [1.0; 3]);
        push_item(&mut out, &unit);
        for s in subs_of(u) {
            let first = sub_index(s) + 1;
            let mut sub = json!({
                "name": layout.sub_unit_name(s),
                "children": parts_of(s).map(|p| first + p % per_sub).collect::<Vec<_>>()
            });
            let (t, r, scale) = layout.sub_unit_transform(s);
            transform(&mut sub, t.map(short), r, scale);
            push_item(&mut out, &sub);
            for p in parts_of(s) {
                let spec = &parts[p];
                let mut node = json!({ "name": layout.part_name(p), "mesh": p });
                transform(
                    &mut node,
                    spec.translation.map(short),
                    spec.rotation,
                    spec.scale,
                );
                push_item(&mut out, &node);
            }
        }
    }
    out
}

/// The manifest: `sensors` sensors spread evenly over the parts (several per part when there
/// are more sensors than parts), each with warning and alarm thresholds, model at `model_url`.
#[expect(
    clippy::expect_used,
    reason = "serialising a JSON value built in memory cannot fail"
)]
pub fn manifest(layout: &Layout, model_url: &str, sensors: usize) -> String {
    let n = layout.parts;
    let w = digits(n - 1).max(4);
    let list: Vec<Value> = (0..sensors)
        .map(|k| {
            let (p, repeat) = if sensors <= n {
                (k * n / sensors, 0)
            } else {
                (k % n, k / n)
            };
            let (key, name, unit, side, warning, alarm) = QUANTITIES[k % QUANTITIES.len()];
            let part = layout.part_name(p);
            json!({
                "id": format!("asm.p{p:0w$}.{key}{repeat}"),
                "name": format!("{name} {part}"),
                "node": part,
                "unit": unit,
                "range": [0, 100],
                "warning": { side: warning },
                "alarm": { side: alarm },
                "maxAgeSeconds": 5
            })
        })
        .collect();
    let doc = json!({
        "name": format!("CAD assembly ({n} parts, {sensors} sensors)"),
        "description": "Generated by twinlens gen-assembly: units, sub-units and parts, each part its own node and mesh.",
        "model": { "url": model_url, "unitScale": 1.0, "upAxis": "y" },
        "sensors": list
    });
    serde_json::to_string(&doc).expect("manifest serialises")
}
