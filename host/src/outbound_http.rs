//! Outbound `wasi:http`: requests go out only to hosts in the component's
//! `allowed_outbound_hosts`; others fail with `HttpRequestDenied`, as under Spin.

use crate::allowed_hosts::{default_port, AllowList};
use crate::telemetry::{Parent, Span};
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

#[derive(Clone, Default)]
pub struct OutboundHttp {
    pub allowed: Arc<AllowList>,
    pub component: Arc<str>,
    /// The span of the request or event this instance serves, when traces are on: each outbound
    /// request gets a client span under it and carries that span's `traceparent`.
    pub trace: Option<Parent>,
}

type SendFuture = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl OutboundHttp {
    pub fn new(component: &str, allowed: Arc<AllowList>) -> Self {
        OutboundHttp {
            allowed,
            component: Arc::from(component),
            trace: None,
        }
    }

    fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("http");
        let Some(host) = uri.host() else { return false };
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else {
            return false;
        };
        self.allowed.allows(scheme, host, port)
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        _ = fut;
        if !self.allows(request.uri()) {
            tracing::warn!(
                component = %self.component,
                uri = %request.uri(),
                "outbound request denied: not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let span = self.trace.as_ref().and_then(|parent| {
            let (method, uri) = (request.method().clone(), request.uri().clone());
            Span::outbound(parent, &method, &uri, request.headers_mut())
        });
        Box::new(async move {
            use http_body_util::BodyExt;
            let sent = wasmtime_wasi_http::default_send_request(request, options).await;
            if let Some(span) = span {
                match &sent {
                    Ok((res, _)) => span.end_http(res.status().as_u16()),
                    Err(e) => span.end_result(Some(&format!("{e:?}"))),
                }
            }
            let (res, io) = sent?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn outbound(entries: &[&str]) -> OutboundHttp {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        OutboundHttp {
            allowed: Arc::new(AllowList::parse(&entries).expect("valid list")),
            component: Arc::from("probe"),
            trace: None,
        }
    }

    #[test]
    fn only_listed_scheme_host_and_port_are_allowed() {
        let o = outbound(&["http://127.0.0.1:*", "https://api.example.com"]);
        let allows = |uri: &str| o.allows(&uri.parse().expect("uri"));
        assert!(allows("http://127.0.0.1:8080/x"));
        assert!(allows("http://127.0.0.1/x"), "port 80 is within *");
        assert!(
            allows("https://api.example.com/v1"),
            "443 is https' default"
        );
        assert!(
            !allows("http://localhost:8080/x"),
            "another name for the host"
        );
        assert!(!allows("https://127.0.0.1:8080/x"), "another scheme");
        assert!(!allows("https://api.example.com:8443/v1"), "another port");
        assert!(!allows("http://api.example.com/v1"), "http is not https");
        assert!(!allows("/relative"), "no host at all");
        assert!(!allows("ftp://127.0.0.1/x"), "no default port to compare");
        let none = outbound(&[]);
        assert!(!none.allows(&"http://127.0.0.1:8080/".parse().expect("uri")));
    }

    #[tokio::test]
    async fn a_denied_request_fails_with_http_request_denied_without_connecting() {
        let mut o = outbound(&["http://127.0.0.1:*"]);
        let body = http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::get("http://localhost:1/")
            .body(body)
            .expect("request");
        let done: Box<dyn std::future::Future<Output = Result<(), Error>> + Send> =
            Box::new(async { Ok(()) });
        let answer = Box::into_pin(o.send_request(request, None, done)).await;
        assert!(
            matches!(answer, Err(Error::HttpRequestDenied)),
            "{:?}",
            answer.err()
        );
    }
}
