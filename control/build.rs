//! Embeds `web/` into the binary, so `vchat` serves its pages with nothing beside it.
//!
//! Writes `$OUT_DIR/web_files.rs`: one entry per file with its URL path, bytes (by
//! `include_bytes!`), content type and an ETag from the content.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest
        .join("../web")
        .canonicalize()
        .expect("the web/ folder exists beside control/");
    println!("cargo:rerun-if-changed={}", web.display());

    let mut files = Vec::new();
    collect(&web, &web, &mut files);
    files.sort();

    let mut out = String::from("static FILES: &[WebFile] = &[\n");
    for (url, path) in &files {
        let Some(mime) = mime(path) else { continue };
        let bytes = fs::read(path).expect("readable web file");
        let etag = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
        writeln!(
            out,
            "    WebFile {{ path: {url:?}, body: include_bytes!({:?}), mime: {mime:?}, etag: \"\\\"{etag:016x}\\\"\" }},",
            path.display().to_string()
        )
        .expect("write to string");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web_files.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Tooling beside the pages (type checking, packages) is not served.
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let url = format!("/{}", relative.display().to_string().replace('\\', "/"));
            files.push((url, path));
        }
    }
}

fn mime(path: &Path) -> Option<&'static str> {
    Some(match path.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        _ => return None,
    })
}
