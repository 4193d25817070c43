//! The web console's assets (`web/`, built into `web/dist` and embedded at build time), served
//! at `/` beside the APIs: every API route is more specific, so it wins (Spin's routing).
//!
//! Hashed names under `/assets/` are cached for a year (`immutable`); everything else
//! (`index.html`, the service worker, the manifest) is revalidated on each use (`no-cache`)
//! with its ETag. A gzip copy made at build time is sent to clients that accept gzip. The
//! single-page application's own routes (`/structure`, `/invitation/<token>`) get `index.html`.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

pub struct Asset {
    path: &'static str,
    content_type: &'static str,
    etag: &'static str,
    body: &'static [u8],
    gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// No inline scripts or styles, nothing from elsewhere but images (a configured map tile
/// server), no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: https: http:; connect-src 'self'; worker-src 'self'; \
    manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The single-page application's own routes (`SCREENS` and the invitation link in
/// `web/src/main.tsx`): each is `index.html`, which routes in the browser. Anything else that
/// names no file is a 404, as under Spin without the console (`/health/extra` stays one).
const APP_ROUTES: &[&str] = &[
    "/structure",
    "/chart",
    "/realtime",
    "/map",
    "/people",
    "/notifications",
    "/invitation/",
];

fn app_route(path: &str) -> bool {
    APP_ROUTES.iter().any(|r| match r.strip_suffix('/') {
        // `/invitation/<token>`: one segment after the prefix.
        Some(prefix) => {
            path.strip_prefix(r)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
                && path.starts_with(prefix)
        }
        None => path == *r || path.strip_prefix(r) == Some("/"),
    })
}

/// The asset a path names: the file itself, `index.html` for `/` and the application's routes.
fn resolve(path: &str) -> Option<&'static Asset> {
    if path == "/" || app_route(path) {
        return find("/index.html");
    }
    find(path)
}

fn cache_control(asset: &Asset) -> &'static str {
    if asset.path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// Whether `If-None-Match` names this ETag (a list, `*`, or weak forms).
fn not_modified(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

fn header<'a>(req: &'a Request, name: &str) -> &'a str {
    req.header(name)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

fn plain(status: u16, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("content-security-policy", CSP)
        .header("x-content-type-options", "nosniff")
        .body(message.to_owned())
        .build()
}

#[http_component]
fn handle(req: Request) -> Response {
    let head = match req.method() {
        Method::Get => false,
        Method::Head => true,
        _ => {
            let mut r = plain(405, "the console's files are read with GET or HEAD\n");
            r.set_header("allow", "GET, HEAD");
            return r;
        }
    };
    if ASSETS.is_empty() {
        return plain(
            503,
            "the console was not built into this component: run `npm ci && npm run build` in \
             web/ (scripts/up and scripts/test do it), then build the components again\n",
        );
    }
    let path = req.path();
    let Some(asset) = resolve(path) else {
        return plain(404, &format!("no file {path} in the console\n"));
    };
    let mut b = Response::builder();
    b.header("content-type", asset.content_type)
        .header("etag", asset.etag)
        .header("cache-control", cache_control(asset))
        .header("vary", "accept-encoding")
        .header("content-security-policy", CSP)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer");
    if asset.path.ends_with("/sw.js") {
        b.header("service-worker-allowed", "/");
    }
    if not_modified(header(&req, "if-none-match"), asset.etag) {
        return b.status(304).body(Vec::new()).build();
    }
    let body = match asset.gzip {
        Some(gz)
            if fieldline_http::accepts_gzip(
                req.header("accept-encoding").and_then(|v| v.as_str()),
            ) =>
        {
            b.header("content-encoding", "gzip");
            gz
        }
        _ => asset.body,
    };
    b.status(200)
        .body(if head { Vec::new() } else { body.to_vec() })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_applications_routes_are_index_html() {
        for yes in ["/structure", "/chart", "/people/", "/invitation/abc_D-1"] {
            assert!(app_route(yes), "{yes}");
        }
        for no in [
            "/health/extra",
            "/nowhere",
            "/structures",
            "/invitation/",
            "/invitation/a/b",
        ] {
            assert!(!app_route(no), "{no}");
        }
    }

    #[test]
    fn if_none_match_forms() {
        assert!(not_modified("\"abc\"", "\"abc\""));
        assert!(not_modified("\"x\", W/\"abc\"", "\"abc\""));
        assert!(not_modified("*", "\"abc\""));
        assert!(!not_modified("", "\"abc\""));
        assert!(!not_modified("\"abd\"", "\"abc\""));
    }
}
