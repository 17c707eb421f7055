//! Embeds the dashboard (`dashboard/dist/`, built by `npm run build`) into the
//! gateway: writes `$OUT_DIR/dashboard_assets.rs` with one `include_bytes!` per
//! file and its content type. Without a `dist/` the gateway still builds and
//! serves a page saying how to build the dashboard.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "webmanifest" => "application/manifest+json",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dashboard = manifest_dir.join("../../dashboard");
    let dist = dashboard.join("dist");
    let built = dist.join("index.html").is_file();
    // A missing dist/ appears inside dashboard/: watch the parent then.
    let watched = if dist.is_dir() { &dist } else { &dashboard };
    println!("cargo:rerun-if-changed={}", watched.display());
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    if built {
        walk(&dist, &mut files);
        files.sort();
    }
    let mut code = String::new();
    code.push_str("/// `(url path, content type, bytes)` of every file of `dashboard/dist/`.\n");
    code.push_str("pub(crate) static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&dist).expect("walked under dist");
        let url: String = relative.components().map(|c| format!("/{}", c.as_os_str().to_string_lossy())).collect();
        let absolute = file.canonicalize().expect("dist file exists");
        writeln!(code, "    ({url:?}, {:?}, include_bytes!({:?})),", content_type(file), absolute.display().to_string()).expect("write to string");
    }
    code.push_str("];\n");
    writeln!(code, "/// True when `dashboard/dist/index.html` existed at build time.\npub(crate) const BUILT: bool = {built};").expect("write to string");
    if !built {
        println!("cargo:warning=dashboard/dist is missing: the gateway serves a 'dashboard not built' page at /; run `npm ci && npm run build` in dashboard/ (scripts/up does it)");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("dashboard_assets.rs");
    std::fs::write(&out, code).expect("write dashboard_assets.rs");
}
