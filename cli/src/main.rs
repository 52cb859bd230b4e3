//! `twinlens`: the native companion of the web app. Validates twin files with the same code the
//! browser runs, regenerates the demo twin, and serves the built app.

mod assembly;
mod bench_plant;
mod demo;
mod font;
mod mqtt_publish;
mod serve;
mod sim;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "twinlens", version, about = "twinlens native tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a twin manifest (.json) or model (.glb/.gltf); exit 1 listing every problem.
    Validate {
        /// The manifest or model file.
        file: PathBuf,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write the demo pump-skid model (GLB).
    GenDemo {
        /// Output file.
        #[arg(default_value = "www/demo/pump-skid.glb")]
        out: PathBuf,
    },
    /// Write the benchmark suite's scaled plant: plant.glb, plant.twin.json (its sensors, no
    /// live source) and plant-10k.twin.json (more sensors, fed by bench/feed.mjs at --feed-url).
    GenBenchPlant {
        /// Folder to write into (created if missing).
        #[arg(long, default_value = "bench/generated")]
        out_dir: PathBuf,
        /// Units (mesh nodes) in the plant.
        #[arg(long, default_value_t = 1000)]
        nodes: usize,
        /// Triangles in all, about.
        #[arg(long, default_value_t = 1_000_000)]
        triangles: usize,
        /// Sensors in plant.twin.json.
        #[arg(long, default_value_t = 2000)]
        sensors: usize,
        /// Sensors in plant-10k.twin.json.
        #[arg(long, default_value_t = 10_000)]
        live_sensors: usize,
        /// WebSocket URL of the feed in plant-10k.twin.json.
        #[arg(long, default_value = "ws://127.0.0.1:9901/")]
        feed_url: String,
    },
    /// Write a CAD-like test assembly (GLB): units, sub-units and parts, each part its own node
    /// and mesh, and optionally a manifest binding sensors to parts.
    GenAssembly(assembly::AssemblyArgs),
    /// Serve the built app over HTTP(S), with a simulated pump skid streaming live readings over
    /// a WebSocket at /ws/sim.
    Serve(Box<serve::ServeArgs>),
    /// Rasterise the label font into the signed-distance-field atlas the web app embeds.
    GenFont {
        /// TrueType font to rasterise.
        #[arg(
            long,
            default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
        )]
        ttf: PathBuf,
        /// Output file.
        #[arg(long, default_value = "src/overlay/font.sdf")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Validate { file, json } => validate::run(&file, json),
        Command::GenDemo { out } => {
            let bytes = demo::build_demo_glb();
            match std::fs::write(&out, &bytes) {
                Ok(()) => {
                    println!("wrote {} ({} bytes)", out.display(), bytes.len());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", out.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::GenBenchPlant {
            out_dir,
            nodes,
            triangles,
            sensors,
            live_sensors,
            feed_url,
        } => {
            let (glb, manifest) = bench_plant::build_plant(nodes, triangles, sensors);
            let (_, live) = bench_plant::build_plant(nodes, 0, live_sensors);
            let live = bench_plant::with_live_source(&live, &feed_url);
            let files = [
                ("plant.glb", glb),
                ("plant.twin.json", manifest.into_bytes()),
                ("plant-10k.twin.json", live.into_bytes()),
            ];
            let written = std::fs::create_dir_all(&out_dir).and_then(|()| {
                files
                    .iter()
                    .try_for_each(|(name, bytes)| std::fs::write(out_dir.join(name), bytes))
            });
            match written {
                Ok(()) => {
                    for (name, bytes) in &files {
                        println!(
                            "wrote {} ({} bytes)",
                            out_dir.join(name).display(),
                            bytes.len()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot write into {}: {e}", out_dir.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::GenAssembly(args) => assembly::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::GenFont { ttf, out } => font::run(&ttf, &out),
    }
}
