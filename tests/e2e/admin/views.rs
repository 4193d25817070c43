//! Saved views and plan images (`/api/v1/views`): members read, Modify writes, another
//! organization's are 404, bad fields and bad images are 400 in the admin API's error format,
//! an upload past 2 MiB is 413 (the other routes keep 64 KiB), and the image comes back with its
//! type, nosniff, a sandboxing CSP, an ETag and 304.

use super::*;

/// A PNG header (signature and IHDR) of a `w`×`h` image, padded with `extra` zero bytes: the
/// server reads the type and size from the header and stores the bytes as they are.
fn png(w: u32, h: u32, extra: usize) -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    b.extend_from_slice(b"IHDR");
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    b.resize(b.len() + extra, 0);
    b
}

const JPEG_HEAD: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0, 20, 0, 30, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF,
    0xD9,
];

impl Api {
    fn upload(&self, view: &str, s: &Session, content_type: &str, bytes: Vec<u8>) -> Answer {
        let path = format!("/api/v1/views/{view}/image");
        let resp = self
            .client
            .put(self.host.url(&path))
            .header("authorization", format!("Bearer {}", s.access))
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .expect("request");
        self.answer("PUT", &path, resp)
    }

    fn image(&self, view: &str, s: &Session, etag: Option<&str>) -> reqwest::blocking::Response {
        let mut req = self
            .client
            .get(self.host.url(&format!("/api/v1/views/{view}/image")))
            .header("authorization", format!("Bearer {}", s.access));
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        req.send().expect("request")
    }
}

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn views_are_shared_by_the_organization_and_written_with_modify() {
    let api = start_open();
    let admin = api.signup("Plant", "admin@example.com");
    let (device, _, channel) = api.structure(&admin);
    let viewer = api.add_member(&admin, "viewer@example.com", json!({}));
    let editor = api.add_member(&admin, "editor@example.com", json!({"modify": true}));

    let chart = json!({
        "name": "Boiler temperature",
        "kind": "static_chart",
        "channels": [channel],
        "settings": {"groupBy": "unit", "interval": "15m"}
    });
    // A member without Modify reads views but does not save them.
    expect(
        &api.post("/api/v1/views", &viewer, chart.clone()),
        403,
        "forbidden",
    );
    let saved = api.post("/api/v1/views", &editor, chart.clone());
    assert_eq!(saved.status, 201, "{saved:?}");
    let view = id(&saved.body);
    assert_eq!(saved.body["channels"], json!([channel]));
    assert_eq!(saved.body["settings"]["groupBy"], "unit");
    assert!(saved.body["image"].is_null());

    // Every member of the organization sees it, in any session.
    for s in [&admin, &viewer, &editor] {
        let list = api.get("/api/v1/views", s);
        assert_eq!(ids(&list.body), std::slice::from_ref(&view), "{list:?}");
        let one = api.get(&format!("/api/v1/views/{view}"), s);
        assert_eq!(one.body["name"], "Boiler temperature");
    }

    // A merge patch changes what it names.
    let path = format!("/api/v1/views/{view}");
    expect(
        &api.patch(&path, &viewer, json!({"name": "x"})),
        403,
        "forbidden",
    );
    let changed = api.patch(
        &path,
        &editor,
        json!({"name": "Boiler, last week", "settings": {"interval": null}}),
    );
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["name"], "Boiler, last week");
    assert_eq!(changed.body["settings"], json!({"groupBy": "unit"}));
    assert_eq!(changed.body["channels"], json!([channel]));

    // Bad fields: 400 in the admin API's format, naming what is wrong.
    for (body, words) in [
        (json!({"name": "", "kind": "map"}), "view name"),
        (json!({"name": "x", "kind": "pie"}), "kind"),
        (
            json!({"name": "x", "kind": "map", "settings": [1]}),
            "settings",
        ),
        (
            json!({"name": "x", "kind": "map", "channels": ["zzzzzzzzzzzzz"]}),
            "not one of the organization's",
        ),
        (
            json!({"name": "x", "kind": "map", "placements": [{"device": device, "x": 0.1, "y": 0.1}]}),
            "only a view of kind plan",
        ),
        (
            json!({"name": "x", "kind": "plan", "placements": [{"device": device, "x": 1.5, "y": 0.1}]}),
            "from 0 to 1",
        ),
        (
            json!({"name": "x", "kind": "plan", "placements": [{"device": "zzzzzzzzzzzzz", "x": 0, "y": 0}]}),
            "not one of the organization's",
        ),
    ] {
        let a = api.post("/api/v1/views", &editor, body.clone());
        expect(&a, 400, "invalid_request");
        let message = a.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{body}: {message}");
    }
    let big = json!({"name": "x", "kind": "map", "settings": {"a": "y".repeat(9000)}});
    expect(
        &api.post("/api/v1/views", &editor, big),
        400,
        "invalid_request",
    );
    expect(
        &api.patch(&path, &editor, json!({"kind": "pie"})),
        400,
        "invalid_request",
    );

    // Another organization: 404 on every view route, nothing in its list.
    let other = api.signup("Elsewhere", "other@example.com");
    expect(&api.get(&path, &other), 404, "view_not_found");
    expect(
        &api.patch(&path, &other, json!({"name": "mine"})),
        404,
        "view_not_found",
    );
    expect(&api.delete(&path, &other), 404, "view_not_found");
    assert_eq!(api.get("/api/v1/views", &other).body, json!([]));
    expect(
        &api.get("/api/v1/views/zzzzzzzzzzzzz", &admin),
        404,
        "view_not_found",
    );

    expect(&api.delete(&path, &viewer), 403, "forbidden");
    assert_eq!(api.delete(&path, &editor).status, 204);
    expect(&api.get(&path, &admin), 404, "view_not_found");
    assert_eq!(api.get("/api/v1/views", &admin).body, json!([]));
}

#[test]
fn plan_images_are_checked_by_their_bytes_and_served_safely() {
    let api = start_open();
    let admin = api.signup("Plant", "admin@example.com");
    let (device, _, _) = api.structure(&admin);
    let viewer = api.add_member(&admin, "viewer@example.com", json!({}));
    let plan = api.post(
        "/api/v1/views",
        &admin,
        json!({"name": "Floor 1", "kind": "plan",
               "placements": [{"device": device, "x": 0.25, "y": 0.75}]}),
    );
    assert_eq!(plan.status, 201, "{plan:?}");
    let plan = id(&plan.body);
    expect(
        &api.get(&format!("/api/v1/views/{plan}/image"), &admin),
        404,
        "view_not_found",
    );

    // Refused: not an image, SVG (scripts), a type the bytes contradict, no bytes, a viewer.
    for (ct, bytes, words) in [
        (
            "image/png",
            b"GIF89a\x01\x00\x01\x00".to_vec(),
            "not a PNG or JPEG",
        ),
        (
            "image/svg+xml",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
            "SVG is not accepted",
        ),
        ("image/jpeg", png(10, 10, 0), "Content-Type says"),
        ("image/png", Vec::new(), "empty"),
        ("image/png", png(100_000, 10, 0), "pixels a side"),
    ] {
        let a = api.upload(&plan, &admin, ct, bytes);
        expect(&a, 400, "invalid_request");
        let message = a.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{ct}: {message}");
    }
    expect(
        &api.upload(&plan, &viewer, "image/png", png(4, 3, 0)),
        403,
        "forbidden",
    );
    // Past 2 MiB: 413 before anything is read; up to it, taken (the JSON routes keep 64 KiB).
    let limit = 2 * 1024 * 1024;
    let over = png(4, 3, limit + 1 - png(4, 3, 0).len());
    expect(
        &api.upload(&plan, &admin, "image/png", over),
        413,
        "payload_too_large",
    );
    let at_limit = png(4, 3, limit - png(4, 3, 0).len());
    let a = api.upload(&plan, &admin, "image/png", at_limit.clone());
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["image"]["bytes"], limit);
    let big_json = json!({"name": "x", "kind": "map", "settings": {"a": "y".repeat(70 * 1024)}});
    expect(
        &api.post("/api/v1/views", &admin, big_json),
        413,
        "payload_too_large",
    );

    // The last upload wins; the view says what it is.
    let jpeg = JPEG_HEAD.to_vec();
    let a = api.upload(&plan, &admin, "image/jpeg", jpeg.clone());
    assert_eq!(a.status, 200, "{a:?}");
    let image = &a.body["image"];
    assert_eq!(image["contentType"], "image/jpeg");
    assert_eq!(
        (image["width"].clone(), image["height"].clone()),
        (json!(30), json!(20))
    );
    assert_eq!(a.body["placements"][0]["x"], 0.25);

    // Served to any member with its type, nosniff, a sandbox CSP and an ETag; 304 when current.
    let r = api.image(&plan, &viewer, None);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "cache-control"), "private, no-cache");
    assert!(header(&r, "content-security-policy").contains("sandbox"));
    let etag = header(&r, "etag");
    assert_eq!(
        etag,
        format!("\"{}\"", image["sha256"].as_str().unwrap_or_default())
    );
    assert_eq!(r.bytes().expect("body").as_ref(), jpeg.as_slice());
    let r = api.image(&plan, &viewer, Some(&etag));
    assert_eq!(r.status().as_u16(), 304);
    assert_eq!(r.bytes().expect("body").len(), 0);
    assert_eq!(
        api.image(&plan, &viewer, Some("\"other\""))
            .status()
            .as_u16(),
        200
    );

    // Moving a device keeps the image; another organization gets 404 for the image.
    let moved = api.patch(
        &format!("/api/v1/views/{plan}"),
        &admin,
        json!({"placements": [{"device": device, "x": 0.5, "y": 0.5}]}),
    );
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(moved.body["image"]["contentType"], "image/jpeg");
    // `null` in a merge patch removes: no device placed, the image kept.
    let cleared = api.patch(
        &format!("/api/v1/views/{plan}"),
        &admin,
        json!({"placements": null}),
    );
    assert_eq!(cleared.status, 200, "{cleared:?}");
    assert_eq!(cleared.body["placements"], json!([]));
    assert_eq!(cleared.body["image"]["contentType"], "image/jpeg");
    let other = api.signup("Elsewhere", "other@example.com");
    let r = api.image(&plan, &other, None);
    assert_eq!(r.status().as_u16(), 404);
    expect(
        &api.upload(&plan, &other, "image/png", png(4, 3, 0)),
        404,
        "view_not_found",
    );

    // Only a plan has an image.
    let map = id(&api
        .post(
            "/api/v1/views",
            &admin,
            json!({"name": "Map", "kind": "map"}),
        )
        .body);
    let a = api.upload(&map, &admin, "image/png", png(4, 3, 0));
    expect(&a, 400, "invalid_request");

    // Deleting the plan deletes its image.
    assert_eq!(
        api.delete(&format!("/api/v1/views/{plan}"), &admin).status,
        204
    );
    assert_eq!(api.image(&plan, &admin, None).status().as_u16(), 404);
}
