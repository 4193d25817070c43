//! HTTP route matching as Spin's HTTP trigger does it: exact routes (`/health`), `:name` segments
//! (`/users/:id`), trailing wildcards (`/api/...` or `/api/*`); exact beats `:name` beats a
//! trailing wildcard, and among wildcards the longest prefix wins. Private routes are never matched.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A route's component and the route as written, shared (cheap to clone): what the host labels
/// a request's metrics with.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct RouteName {
    pub component: std::sync::Arc<str>,
    pub route: std::sync::Arc<str>,
}

/// One route of the application, bound to a component.
#[derive(Debug, Clone)]
pub struct Route {
    segments: Vec<Segment>,
    wildcard: bool,
    /// The route as written in the manifest (`spin-raw-component-route`).
    pub raw: String,
    /// The route with one trailing `/` removed (`spin-matched-route`).
    based: String,
    pub component: String,
    /// The component and route as metric labels, made once.
    pub labels: RouteName,
}

/// What a matched request learns about its route, as Spin's request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub component: &'a str,
    /// The component and the route as written, as metric labels.
    pub labels: &'a RouteName,
    /// `spin-raw-component-route`: the route as written.
    pub raw_route: &'a str,
    /// `spin-matched-route`: the route as written, normalised.
    pub matched_route: &'a str,
    /// `spin-component-route`: the route without its wildcard.
    pub component_route: String,
    /// `spin-path-info`: what the trailing wildcard matched (empty for other routes).
    pub path_info: String,
    /// `:name` captures, for `spin-path-match-<name>`.
    pub params: Vec<(String, String)>,
}

/// Checks the syntax Spin accepts for `route`.
pub fn validate_route(route: &str) -> Result<(), String> {
    if !route.starts_with('/') {
        return Err("routes start with `/`".into());
    }
    if route.contains(['?', '#']) {
        return Err("routes cannot contain a query or fragment".into());
    }
    let body = route
        .strip_suffix("/...")
        .or_else(|| route.strip_suffix("/*"))
        .unwrap_or(route);
    if body.contains("...") || body.split('/').any(|s| s == "*") {
        return Err("a wildcard (`/...` or `/*`) may only end a route".into());
    }
    if body.split('/').any(|s| s == ":") {
        return Err("a `:` segment needs a name, as in `/users/:id`".into());
    }
    Ok(())
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl Route {
    pub fn new(raw: &str, component: &str) -> Result<Self, String> {
        validate_route(raw)?;
        let based = if raw.len() > 1 || raw == "/" {
            raw.strip_suffix('/').unwrap_or(raw).to_string()
        } else {
            raw.to_string()
        };
        let (body, wildcard) = match raw.strip_suffix("/...").or_else(|| raw.strip_suffix("/*")) {
            Some(prefix) => (prefix, true),
            None => (raw, false),
        };
        let segments = split(body)
            .map(|s| match s.strip_prefix(':') {
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(s.to_string()),
            })
            .collect();
        Ok(Route {
            segments,
            wildcard,
            raw: raw.to_string(),
            based,
            component: component.to_string(),
            labels: RouteName {
                component: component.into(),
                route: raw.into(),
            },
        })
    }

    /// Matches a path; on success returns the `:name` captures and the trailing wildcard's part.
    fn matches(&self, path: &str) -> Option<(Vec<(String, String)>, String)> {
        let parts: Vec<&str> = split(path).collect();
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (seg, part) in self.segments.iter().zip(&parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), part.to_string())),
            }
        }
        let path_info = if self.wildcard {
            let rest = parts[self.segments.len()..].join("/");
            // As Spin: "/foo" → "", "/foo/" → "/", "/foo/bar" → "/bar", "/foo/bar/" → "/bar/".
            match (rest.is_empty(), path.ends_with('/') && path.len() > 1) {
                (true, false) => String::new(),
                (true, true) => "/".into(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        Some((params, path_info))
    }

    /// Higher is more specific: exact, then `:name`, then trailing wildcards by prefix length.
    fn specificity(&self) -> (u8, usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let class = match (self.wildcard, literals == self.segments.len()) {
            (false, true) => 2,
            (false, false) => 1,
            (true, _) => 0,
        };
        (class, self.segments.len(), literals)
    }

    fn component_route(&self) -> String {
        self.raw
            .strip_suffix("/...")
            .or_else(|| self.raw.strip_suffix("/*"))
            .unwrap_or(&self.based)
            .to_string()
    }
}

/// The application's public routes.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds the router; like Spin, a later route identical to an earlier one replaces it, and
    /// the replaced ones are returned so the caller can warn about them.
    pub fn new(routes: Vec<Route>) -> (Self, Vec<(Route, String)>) {
        let mut kept: Vec<Route> = Vec::new();
        let mut replaced = Vec::new();
        for r in routes {
            match kept.iter_mut().find(|k| k.based == r.based) {
                Some(existing) => {
                    let old = std::mem::replace(existing, r);
                    replaced.push((old, existing.component.clone()));
                }
                None => kept.push(r),
            }
        }
        // Most specific first, so the first match wins.
        kept.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        (Router { routes: kept }, replaced)
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a request path (without its query).
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        self.routes.iter().find_map(|r| {
            r.matches(path).map(|(params, path_info)| RouteMatch {
                component: &r.component,
                labels: &r.labels,
                raw_route: &r.raw,
                matched_route: &r.based,
                component_route: r.component_route(),
                path_info,
                params,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::new(
            routes
                .iter()
                .map(|(r, c)| Route::new(r, c).expect("valid route"))
                .collect(),
        )
        .0
    }

    fn component<'a>(r: &'a Router, path: &str) -> Option<&'a str> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_beats_param_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("/...", "root"),
            ("/api/...", "api"),
            ("/api/health", "health"),
            ("/api/v1/...", "v1"),
            ("/api/:thing", "thing"),
        ]);
        assert_eq!(component(&r, "/api/health"), Some("health"));
        assert_eq!(component(&r, "/api/other"), Some("thing"));
        assert_eq!(component(&r, "/api/v1/x"), Some("v1"));
        assert_eq!(component(&r, "/api/v2/x"), Some("api"));
        assert_eq!(component(&r, "/apix"), Some("root"));
        assert_eq!(component(&r, "/"), Some("root"));
    }

    #[test]
    fn wildcard_headers_follow_spin() {
        let r = router(&[("/api/...", "api")]);
        let m = r.route("/api/a/b").expect("match");
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(m.component_route, "/api");
        assert_eq!(m.raw_route, "/api/...");
        assert_eq!(m.matched_route, "/api/...");
        assert_eq!(r.route("/api").expect("match").path_info, "");
        assert_eq!(r.route("/api/").expect("match").path_info, "/");
        assert_eq!(r.route("/api/a/").expect("match").path_info, "/a/");
        assert!(r.route("/apiary").is_none());
    }

    #[test]
    fn star_is_a_trailing_wildcard_too() {
        let r = router(&[("/files/*", "f")]);
        assert_eq!(r.route("/files/a/b").expect("match").path_info, "/a/b");
        assert_eq!(
            r.route("/files/a/b").expect("match").component_route,
            "/files"
        );
    }

    #[test]
    fn params_are_captured() {
        let r = router(&[("/foo/:userid/...", "u")]);
        let m = r.route("/foo/42/bar").expect("match");
        assert_eq!(m.params, vec![("userid".to_string(), "42".to_string())]);
        assert_eq!(m.path_info, "/bar");
        assert_eq!(m.component_route, "/foo/:userid");
    }

    #[test]
    fn exact_routes_have_no_path_info() {
        let r = router(&[("/health", "h")]);
        assert_eq!(r.route("/health/").expect("match").path_info, "");
        assert!(r.route("/health/x").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn root_wildcard_path_info_is_the_whole_path() {
        let r = router(&[("/...", "all")]);
        assert_eq!(r.route("/a/b").expect("match").path_info, "/a/b");
        assert_eq!(r.route("/a/b").expect("match").component_route, "");
    }

    #[test]
    fn a_duplicate_route_replaces_the_earlier_one() {
        let (r, replaced) = Router::new(vec![
            Route::new("/x", "first").expect("valid"),
            Route::new("/x/", "second").expect("valid"),
        ]);
        assert_eq!(component(&r, "/x"), Some("second"));
        assert_eq!(replaced.len(), 1);
        assert_eq!(replaced[0].0.component, "first");
    }

    #[test]
    fn invalid_routes() {
        for bad in ["api", "/a/.../b", "/a?x=1", "/a/*/b", "/a/:"] {
            assert!(validate_route(bad).is_err(), "{bad}");
        }
    }
}
