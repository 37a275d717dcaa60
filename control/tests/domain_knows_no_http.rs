//! The domain (`control/src/domain/`) holds the rules and knows no transport: no file
//! there names axum, tower, hyper or tungstenite in code. The HTTP edge (`http/`) and
//! the socket protocols (`ws/`) call into it, never the other way; a rule that is
//! written against an HTTP type cannot be reused by the next socket kind.

use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 6] = [
    "axum",
    "tower",
    "hyper",
    "tungstenite",
    "http::",
    "HeaderMap",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("domain folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The line without its comment (a `//` outside a string literal, roughly: enough
/// for code that names a crate in a path).
fn code(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return "";
    }
    match line.find(" //") {
        Some(i) if !line[..i].contains('"') => &line[..i],
        _ => line,
    }
}

#[test]
fn no_file_under_domain_names_the_http_stack() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(
        files.len() > 20,
        "found the domain's files: {}",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        for (n, line) in text.lines().enumerate() {
            let code = code(line);
            for word in FORBIDDEN {
                if code.contains(word) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the domain names the HTTP stack:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_a_use_of_axum() {
    assert_eq!(code("use axum::Json; // ok"), "use axum::Json;");
    assert_eq!(code("    //! names axum"), "");
    assert!(
        FORBIDDEN
            .iter()
            .any(|w| code("let x: axum::http::StatusCode;").contains(w))
    );
}
