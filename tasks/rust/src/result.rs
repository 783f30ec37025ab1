//! The task result: one JSON object, the same shape in every language, written atomically.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{TOOL, VERSION};

/// `ok` (exit 0) or `nothing_to_do` (exit 99).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Done.
    Ok,
    /// Nothing to process.
    NothingToDo,
}

/// What a command hands to the next task (through xcom).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskResult {
    /// How the command ended.
    pub status: Status,
    /// Always [`TOOL`].
    pub tool: &'static str,
    /// Always [`VERSION`].
    pub version: &'static str,
    /// The command's name.
    pub command: String,
    /// Non-negative integers only, so DAGs can sum them without knowing the command.
    pub counts: BTreeMap<String, u64>,
    /// Anything else the next task needs; keep it small.
    pub outputs: Map<String, Value>,
}

impl TaskResult {
    /// An `ok` result with no counts and no outputs.
    #[must_use]
    pub fn ok(command: &str) -> Self {
        Self {
            status: Status::Ok,
            tool: TOOL,
            version: VERSION,
            command: command.to_owned(),
            counts: BTreeMap::new(),
            outputs: Map::new(),
        }
    }

    /// The same result with status `nothing_to_do`.
    #[must_use]
    pub fn nothing_to_do(mut self) -> Self {
        self.status = Status::NothingToDo;
        self
    }

    /// Adds a count.
    #[must_use]
    pub fn count(mut self, name: &str, value: u64) -> Self {
        self.counts.insert(name.to_owned(), value);
        self
    }

    /// Adds an output.
    #[must_use]
    pub fn output(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.outputs.insert(name.to_owned(), value.into());
        self
    }

    /// The result as one JSON line.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|e| {
            // Only map keys that are not strings can fail, and the types rule that out.
            unreachable!("a TaskResult always serialises: {e}")
        });
        line.push('\n');
        line
    }
}

/// Writes the result to `path` atomically (temp file in the same directory, then rename),
/// creating the directory; with no path, prints it on `stdout`.
///
/// # Errors
/// When the directory cannot be created or the file cannot be written.
pub fn write(
    result: &TaskResult,
    path: Option<&Path>,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let line = result.to_line();
    let Some(path) = path else {
        stdout.write_all(line.as_bytes())?;
        return stdout.flush().context("writing the result to stdout");
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the result file's directory {}", dir.display()))?;
    let name = path
        .file_name()
        .map_or_else(|| "result".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(line.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing the result file {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_the_contract() {
        let result = TaskResult::ok("selfcheck")
            .count("checks", 1)
            .output("uid", 10001);
        let value: Value = serde_json::from_str(&result.to_line()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "status": "ok", "tool": "rstask", "version": VERSION, "command": "selfcheck",
                "counts": {"checks": 1}, "outputs": {"uid": 10001}
            })
        );
        let skipped: Value = serde_json::from_str(&result.nothing_to_do().to_line()).unwrap();
        assert_eq!(skipped["status"], "nothing_to_do");
    }

    #[test]
    fn writes_atomically_into_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xcom/return.json");
        write(&TaskResult::ok("x"), Some(&path), &mut Vec::new()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["command"],
            "x"
        );
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["return.json"]);
    }

    #[test]
    fn without_a_path_prints_one_line() {
        let mut out = Vec::new();
        write(&TaskResult::ok("x"), None, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn unwritable_directory_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let error = write(
            &TaskResult::ok("x"),
            Some(&blocker.join("r.json")),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(format!("{error:#}").contains("directory"), "{error:#}");
    }
}
