//! `twinlens validate`: loads a manifest or model with the same code the browser runs and prints
//! a one-line summary, or every problem found. A valid manifest that would send credentials
//! unencrypted is still valid, with a warning in words.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use twinlens::manifest::Manifest;
use twinlens::model::{Resources, TwinModel, load_model, required_resources};

/// Files larger than this are refused before reading: no twin model needs more.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// What a valid twin file contains.
struct Summary {
    nodes: usize,
    meshes: usize,
    triangles: u64,
    sensors: Option<(usize, usize)>,
    /// Security warnings of the manifest ([`Manifest::security_warnings`]).
    warnings: Vec<String>,
}

/// Runs the command; exit 0 when valid, 1 with every problem otherwise.
pub fn run(file: &Path, json: bool) -> ExitCode {
    match check(file) {
        Ok(s) => {
            if json {
                let (bound, total) = s.sensors.unwrap_or((0, 0));
                let out = serde_json::json!({
                    "file": file.display().to_string(),
                    "valid": true,
                    "nodes": s.nodes,
                    "meshes": s.meshes,
                    "triangles": s.triangles,
                    "sensors": total,
                    "sensorsBound": bound,
                    "warnings": s.warnings,
                });
                println!("{out}");
            } else {
                for w in &s.warnings {
                    eprintln!("warning: {}: {w}", file.display());
                }
                let sensors = s
                    .sensors
                    .map(|(bound, total)| format!(", {bound} of {total} sensors bound"))
                    .unwrap_or_default();
                println!(
                    "{}: valid: {} nodes, {} meshes, {} triangles{sensors}",
                    file.display(),
                    s.nodes,
                    s.meshes,
                    s.triangles
                );
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            if json {
                let out = serde_json::json!({
                    "file": file.display().to_string(),
                    "valid": false,
                    "errors": problems,
                });
                println!("{out}");
            } else {
                for p in &problems {
                    eprintln!("error: {p}");
                }
                eprintln!(
                    "{}: invalid ({} problem(s))",
                    file.display(),
                    problems.len()
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn check(file: &Path) -> Result<Summary, Vec<String>> {
    let bytes = read_file(file).map_err(|e| vec![e])?;
    let name = file.display().to_string();
    let is_manifest = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if !is_manifest {
        let model = load_local_model(&bytes, file)?;
        return Ok(summarize(&model, None));
    }
    let manifest = Manifest::parse(&bytes, &name).map_err(|e| lines(&e.to_string()))?;
    let model_path = local_path(file, &manifest.model.url)
        .map_err(|e| vec![format!("{name}: model.url: {e}")])?;
    let model_bytes =
        read_file(&model_path).map_err(|e| vec![format!("{name}: model.url: {e}")])?;
    let model = load_local_model(&model_bytes, &model_path)?;
    let problems = manifest.check_against(&model);
    if !problems.is_empty() {
        return Err(problems
            .iter()
            .map(|p| format!("{name}: {}: {}", p.path, p.message))
            .collect());
    }
    let bound = manifest.bound_sensor_count(&model);
    Ok(Summary {
        warnings: manifest.security_warnings(),
        ..summarize(&model, Some((bound, manifest.sensors.len())))
    })
}

fn summarize(model: &TwinModel, sensors: Option<(usize, usize)>) -> Summary {
    Summary {
        nodes: model.nodes.len(),
        meshes: model.meshes.len(),
        triangles: model.triangle_count(),
        sensors,
        warnings: Vec::new(),
    }
}

fn load_local_model(bytes: &[u8], path: &Path) -> Result<TwinModel, Vec<String>> {
    let name = path.display().to_string();
    let needed = required_resources(bytes, &name).map_err(|e| lines(&e.to_string()))?;
    let mut resources = Resources::new();
    for uri in needed {
        let resolved = local_path(path, &uri).map_err(|e| vec![format!("{name}: {uri}: {e}")])?;
        let data = read_file(&resolved).map_err(|e| vec![format!("{name}: {e}")])?;
        resources.insert(uri, data);
    }
    load_model(bytes, &name, &resources).map_err(|e| lines(&e.to_string()))
}

/// Resolves a URL written in a twin file to a file beside it; remote URLs are the browser's job.
fn local_path(base_file: &Path, url: &str) -> Result<PathBuf, String> {
    if url.contains("://") {
        return Err(format!(
            "\"{url}\" is a remote URL; validate checks local files: download it beside the manifest and use a relative path"
        ));
    }
    let decoded = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .replace("%20", " ");
    let rel = Path::new(&decoded);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::Prefix(_))) {
        return Err(format!(
            "\"{url}\" must be relative to the file that names it"
        ));
    }
    Ok(base_file.parent().unwrap_or(Path::new(".")).join(rel))
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} is {} bytes; files over {MAX_FILE_BYTES} bytes are refused",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}
