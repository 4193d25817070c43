//! Embeds the built console (`web/dist`, made by `npm run build` from `scripts/lib.sh`
//! `ensure_console`) into the component: for each file its path, content type, ETag (SHA-256
//! of the bytes) and a gzip copy when that is smaller. Without `web/dist` the component is
//! built with no assets and answers 503 naming the command that builds them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dist = manifest.join("../../web/dist");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut paths = Vec::new();
    files(&dist, &mut paths);
    paths.sort();
    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (i, p) in paths.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", p.display());
        let bytes = std::fs::read(p).expect("read an asset of web/dist");
        let rel = p.strip_prefix(&dist).expect("under dist");
        let url = format!(
            "/{}",
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        );
        let mime = mime_guess::from_path(p).first_or_octet_stream();
        let textual = mime.type_() == mime_guess::mime::TEXT
            || matches!(mime.subtype().as_str(), "javascript" | "json")
            || mime.suffix().is_some_and(|s| s.as_str() == "json");
        let content_type = if textual {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_string()
        };
        let digest = sha2::Sha256::digest_hex(&bytes);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).expect("gzip in memory");
        let gz = gz.finish().expect("gzip in memory");
        let gzip = if gz.len() + 64 < bytes.len() {
            let gz_path = out_dir.join(format!("asset-{i}.gz"));
            std::fs::write(&gz_path, &gz).expect("write to OUT_DIR");
            format!("Some(include_bytes!({:?}))", gz_path.display().to_string())
        } else {
            "None".into()
        };
        writeln!(
            code,
            "    Asset {{ path: {url:?}, content_type: {content_type:?}, etag: \"\\\"{}\\\"\", body: include_bytes!({:?}), gzip: {gzip} }},",
            &digest[..32],
            p.canonicalize().expect("an asset's path").display().to_string(),
        )
        .expect("write to a String");
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("assets.rs"), code).expect("write to OUT_DIR");
}

trait DigestHex {
    fn digest_hex(bytes: &[u8]) -> String;
}

impl DigestHex for sha2::Sha256 {
    fn digest_hex(bytes: &[u8]) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(bytes)
            .iter()
            .fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }
}
