//! One HTTP request, from hyper to a response: the Host check (DNS-rebinding defence, 421
//! with the reason, never a file), the routes (`/ws/sim`, `/twinlens.config.json`, the built
//! app's files), and the headers every response carries.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

use super::access::Access;
use super::headers::{CONFIG_PATH, SecurityHeaders};
use super::log::{SharedLog, quote};
use super::ws::{SimSocket, ws_sim};

/// Everything a request needs, shared by all connections.
pub struct App {
    router: Router,
    access: Arc<Access>,
    headers: SecurityHeaders,
    pub log: Arc<SharedLog>,
}

impl App {
    /// The app serving `dir`, `/ws/sim` from `socket` and `config_json` at the config path.
    pub fn new(
        dir: &Path,
        socket: SimSocket,
        config_json: String,
        headers: SecurityHeaders,
    ) -> Self {
        let access = socket.access.clone();
        let log = socket.log.clone();
        let router = Router::new()
            .route("/ws/sim", get(ws_sim))
            .with_state(Arc::new(socket))
            .route(
                CONFIG_PATH,
                get(site_config).with_state(Arc::new(config_json)),
            )
            .fallback_service(ServeDir::new(dir).append_index_html_on_directories(true));
        Self {
            router,
            access,
            headers,
            log,
        }
    }

    /// Answers one request from `peer`.
    pub async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> Response {
        let mut request: Request = request.map(Body::new);
        let path = request.uri().path().to_owned();
        let mut response = match self.check_host(&request) {
            Ok(()) => {
                request.extensions_mut().insert(ConnectInfo(peer));
                match self.router.clone().oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
            Err(reason) => {
                self.log.failure(
                    peer.ip(),
                    format!(
                        "http: refused {peer} {} {}: {reason}",
                        quote(request.method().as_str()),
                        quote(&path)
                    ),
                );
                (StatusCode::MISDIRECTED_REQUEST, format!("{reason}\n")).into_response()
            }
        };
        self.headers.apply(&path, response.headers_mut());
        response
    }

    /// The Host header, and an absolute-form request's authority, must both be ours.
    fn check_host(&self, request: &Request) -> Result<(), String> {
        let mut hosts = request.headers().get_all(header::HOST).iter();
        let host = hosts.next();
        if hosts.next().is_some() {
            return Err("a request may carry only one Host header".to_owned());
        }
        let authority = request.uri().authority().map(|a| a.as_str().as_bytes());
        match (host, authority) {
            (None, None) => self.access.check_host(None),
            (host, authority) => {
                if let Some(host) = host {
                    self.access.check_host(Some(host.as_bytes()))?;
                }
                if let Some(authority) = authority {
                    self.access.check_host(Some(authority))?;
                }
                Ok(())
            }
        }
    }

    /// The whole `503` answer to a connection over `--max-connections`, headers included.
    pub fn busy_response(&self, max_connections: usize) -> Vec<u8> {
        let body = format!(
            "server busy: {max_connections} connections are open (--max-connections); try again \
             shortly\n"
        );
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n{}\r\n{body}",
            body.len(),
            self.headers.lines()
        )
        .into_bytes()
    }
}

/// `GET /twinlens.config.json`: the site configuration being served.
async fn site_config(State(json): State<Arc<String>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json.as_str().to_owned(),
    )
        .into_response()
}
