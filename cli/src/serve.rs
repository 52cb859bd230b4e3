//! Static HTTP server for the built app: correct MIME types (wasm must be `application/wasm` for
//! streaming compilation) and no caching, so a rebuilt app is picked up on reload.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Serves `dir` on `host:port` until interrupted.
pub fn run(dir: &Path, host: &str, port: u16) -> ExitCode {
    if !dir.join("index.html").is_file() {
        eprintln!(
            "error: {} has no index.html; build the app first (trunk build --release)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let addr: SocketAddr = match format!("{host}:{port}").parse() {
        Ok(a) => a,
        Err(_) => {
            eprintln!("error: --host {host:?} is not an IP address (try 127.0.0.1 or 0.0.0.0)");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {addr}: {e} (is the port in use? try --port 0)");
                return ExitCode::FAILURE;
            }
        };
        let bound = listener.local_addr().unwrap_or(addr);
        let app = Router::new()
            .fallback_service(ServeDir::new(dir).append_index_html_on_directories(true))
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ));
        let shown = if bound.ip().is_unspecified() {
            format!("http://localhost:{}/ (all interfaces)", bound.port())
        } else {
            format!("http://{bound}/")
        };
        println!("twinlens: serving {} at {shown}", dir.display());
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: server stopped: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
