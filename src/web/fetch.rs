//! Fetching twin files with progress: the body is read chunk by chunk so the page can show bytes
//! received of the total while a large model downloads.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStreamDefaultReader;

/// Largest file the page will download; bigger bodies are cut off with an error.
pub const MAX_DOWNLOAD_BYTES: usize = 512 * 1024 * 1024;

/// Why a download failed, always naming the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request never got a response (network, CORS, bad URL).
    #[error("could not fetch {url}: {reason} (check the URL and that the server is reachable)")]
    Network {
        /// Requested URL.
        url: String,
        /// Browser's reason.
        reason: String,
    },
    /// The server redirected to a URL the site does not allow.
    #[error("{url} redirected to {to}, which is refused: {why}")]
    Redirect {
        /// Requested URL.
        url: String,
        /// Where the server sent the page.
        to: String,
        /// Why that is refused.
        why: String,
    },
    /// The server answered with an error status.
    #[error("HTTP {status} {status_text} for {url}")]
    Status {
        /// Requested URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// HTTP reason phrase.
        status_text: String,
    },
    /// The body (or its declared length) exceeded the limit for what it is.
    #[error("{url} is larger than {limit} bytes, the most the page downloads for it")]
    TooLarge {
        /// Requested URL.
        url: String,
        /// The limit.
        limit: usize,
    },
}

/// What a download answered besides its body.
pub struct Fetched {
    /// The body.
    pub bytes: Vec<u8>,
    /// The response's `Content-Type`, lower case (empty when absent).
    pub content_type: String,
}

/// Downloads `url`, at most `limit` bytes (and never more than [`MAX_DOWNLOAD_BYTES`]), calling
/// `progress(received, total)` as chunks arrive (`total` is 0 when the server does not say). A
/// declared length over the limit is refused before the body is read. When the server
/// redirected, `allow` must accept the final URL before the body is read.
pub async fn fetch_bytes(
    url: &str,
    limit: usize,
    allow: impl Fn(&str) -> Result<(), String>,
    progress: impl FnMut(u64, u64),
) -> Result<Vec<u8>, FetchError> {
    fetch(url, limit, allow, progress).await.map(|f| f.bytes)
}

/// [`fetch_bytes`] with the response's content type.
pub async fn fetch(
    url: &str,
    limit: usize,
    allow: impl Fn(&str) -> Result<(), String>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Fetched, FetchError> {
    let limit = limit.min(MAX_DOWNLOAD_BYTES);
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    let network = |reason: String| FetchError::Network {
        url: url.to_owned(),
        reason,
    };
    let response = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| network(e.to_string()))?;
    if response.redirected() {
        let to = response.url();
        if let Err(why) = allow(&to) {
            if let Some(body) = response.body() {
                let _ = body.cancel();
            }
            return Err(FetchError::Redirect {
                url: url.to_owned(),
                to,
                why,
            });
        }
    }
    if !response.ok() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: response.status(),
            status_text: response.status_text(),
        });
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(body) = response.body() else {
        return Ok(Fetched {
            bytes: Vec::new(),
            content_type,
        });
    };
    if total > limit as u64 {
        let _ = body.cancel();
        return Err(too_large());
    }
    progress(0, total);
    let reader: ReadableStreamDefaultReader = body
        .get_reader()
        .dyn_into()
        .map_err(|_| network("the response body cannot be read as a stream".into()))?;
    // The declared length only sizes the first allocation, and only within the cap.
    let mut bytes = Vec::with_capacity((total as usize).min(limit));
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| network(js_reason(&e)))?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value"))
            .map_err(|e| network(js_reason(&e)))?;
        let array: Uint8Array = value
            .dyn_into()
            .map_err(|_| network("the response body gave a chunk that is not bytes".into()))?;
        let len = array.length() as usize;
        if bytes.len() + len > limit {
            let _ = reader.cancel();
            return Err(too_large());
        }
        let start = bytes.len();
        bytes.resize(start + len, 0);
        array.copy_to(&mut bytes[start..]);
        progress(bytes.len() as u64, total);
    }
    Ok(Fetched {
        bytes,
        content_type,
    })
}

/// A readable reason from a thrown JS value.
pub fn js_reason(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}
