//! `twinlens`: the native companion of the web app. Validates twin files with the same code the
//! browser runs, regenerates the demo twin, and serves the built app.

mod demo;
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
    /// Serve the built app over HTTP(S), with a simulated pump skid streaming live readings over
    /// a WebSocket at /ws/sim.
    Serve(serve::ServeArgs),
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
        Command::Serve(args) => serve::run(&args),
    }
}
