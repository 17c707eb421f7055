//! Embeds the dashboard (`dashboard/dist/`, built by `npm run build`) into the
//! gateway: writes `$OUT_DIR/dashboard_assets.rs` with one entry per file:
//! its URL path, content type, bytes (`include_bytes!`), a gzip copy made
//! here once (only for compressible types, when it saves at least 10 %), and
//! an ETag (SHA-256 prefix of the bytes). Without a `dist/` the gateway still
//! builds and serves a page saying how to build the dashboard.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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

/// Text formats shrink under gzip; images and fonts are compressed already.
fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type.contains("json") || content_type == "image/svg+xml"
}

/// Smallest body worth compressing (a gzip header and trailer cost ~20 bytes).
const MIN_GZIP_SIZE: usize = 256;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
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
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
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
    }
    // (url path, file), sorted by url path: web.rs looks paths up by binary search
    let mut files: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(&dist).expect("walked under dist");
            let url: String = relative.components().map(|c| format!("/{}", c.as_os_str().to_string_lossy())).collect();
            (url, file)
        })
        .collect();
    files.sort();
    let gz_dir = out_dir.join("dashboard_gz");
    let _ = std::fs::remove_dir_all(&gz_dir);
    let mut code = String::new();
    code.push_str("/// One file of `dashboard/dist/`.\npub(crate) struct Asset {\n");
    code.push_str("    pub path: &'static str,\n    pub content_type: &'static str,\n    pub bytes: &'static [u8],\n");
    code.push_str("    /// gzip of `bytes`, when compressible and worth it.\n    pub gzip: Option<&'static [u8]>,\n");
    code.push_str("    /// Strong validator of `bytes` (the gzip copy's is this with `-gz`), quotes included.\n    pub etag: &'static str,\n}\n");
    code.push_str("/// Every file of `dashboard/dist/`, sorted by path.\npub(crate) static ASSETS: &[Asset] = &[\n");
    let (mut raw_total, mut gz_total) = (0usize, 0usize);
    for (index, (url, file)) in files.iter().enumerate() {
        let absolute = file.canonicalize().expect("dist file exists");
        let bytes = std::fs::read(&absolute).expect("read a dist file");
        let content_type = content_type(file);
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..20]);
        let mut gzip_entry = "None".to_owned();
        if compressible(content_type) && bytes.len() >= MIN_GZIP_SIZE {
            let compressed = gzip(&bytes);
            if compressed.len() * 10 <= bytes.len() * 9 {
                std::fs::create_dir_all(&gz_dir).expect("create the gzip dir");
                let gz_path = gz_dir.join(format!("{index}.gz"));
                std::fs::write(&gz_path, &compressed).expect("write a gzip copy");
                gzip_entry = format!("Some(include_bytes!({:?}))", gz_path.display().to_string());
                raw_total += bytes.len();
                gz_total += compressed.len();
            }
        }
        writeln!(
            code,
            "    Asset {{ path: {url:?}, content_type: {content_type:?}, bytes: include_bytes!({:?}), gzip: {gzip_entry}, etag: {etag:?} }},",
            absolute.display().to_string()
        )
        .expect("write to string");
    }
    code.push_str("];\n");
    writeln!(code, "/// True when `dashboard/dist/index.html` existed at build time.\npub(crate) const BUILT: bool = {built};")
        .expect("write to string");
    if !built {
        println!("cargo:warning=dashboard/dist is missing: the gateway serves a 'dashboard not built' page at /; run `npm install && npm run build` in dashboard/ (scripts/up does it)");
    } else if std::env::var_os("VIGIL_BUILD_VERBOSE").is_some() {
        println!("cargo:warning=dashboard: {} files, {raw_total} bytes of compressible text, {gz_total} gzipped", files.len());
    }
    std::fs::write(out_dir.join("dashboard_assets.rs"), code).expect("write dashboard_assets.rs");
}
