//! The repository explains itself: every section of a document under docs/ (`§N` or `§N.M`) that code,
//! tests, examples and docs cite exists in that document, and every document they name exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Source and documentation files of the repository (build output and the fuzz corpus excluded).
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "corpus" | "artifacts" | "vectors"
            ) {
                files(&p, out);
            }
        } else if ["rs", "md", "c", "h", "py", "kt", "sh", "toml"]
            .iter()
            .any(|x| name.ends_with(&format!(".{x}")))
        {
            out.push(p);
        }
    }
}

/// Section numbers a Markdown document defines (`## 7. MAC ...` gives 7; `### 7.1 MAC` gives 7.1).
fn sections(doc: &str) -> Vec<String> {
    doc.lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| {
            let t = l.trim_start_matches('#').trim();
            let n: String = t
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let n = n.trim_end_matches('.').to_string();
            (!n.is_empty()).then_some(n)
        })
        .collect()
}

#[test]
fn every_cited_section_exists() {
    let root = root();
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(all.len() > 50, "walked too few files: {}", all.len());
    let mut missing = Vec::new();
    for path in &all {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (at, _) in text.match_indices("docs/") {
            let rest = &text[at + 5..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
                .collect();
            let Some(name) = name
                .strip_suffix(".md")
                .map(|n| format!("{n}.md"))
                .or_else(|| name.find(".md").map(|i| name[..i + 3].to_string()))
            else {
                continue;
            };
            let doc_path = root.join("docs").join(&name);
            let Ok(doc) = std::fs::read_to_string(&doc_path) else {
                missing.push(format!(
                    "{}: cites docs/{name}, which does not exist",
                    path.display()
                ));
                continue;
            };
            let after = &rest[name.len()..];
            let Some(cited) = after.strip_prefix(" §") else {
                continue;
            };
            let number: String = cited
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.');
            if number.is_empty() {
                continue;
            }
            if !sections(&doc).iter().any(|s| s == number) {
                missing.push(format!("{}: cites docs/{name} §{number}", path.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "citations of sections that do not exist:\n{}",
        missing.join("\n")
    );
}
