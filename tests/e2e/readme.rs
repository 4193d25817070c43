//! The README's and the docs' commands run as printed: every ` ```sh ` block of README.md, then
//! of each `docs/*.md` (in name order, after the README's walk-through, whose variables they use),
//! in order, in one shell, against a host serving the application (its address put in for
//! `127.0.0.1:3000`), from a directory whose `.spin/operator-token` and `.spin/cron-token` are
//! the host's, as `scripts/up` leaves them. A block preceded by `<!-- readme-test: skip (why) -->`
//! is not run (the reason says what it needs that a test cannot have: a cluster, a cloud
//! account, minutes of load). `curl` fails on an HTTP error status here, so a command that
//! answers 4xx or 5xx fails the test.

use std::process::Command;

use fieldline_tests::{workspace, Start, CRON_TOKEN, OPERATOR_TOKEN};

/// A Markdown file's runnable shell blocks, in order.
fn runnable_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines().peekable();
    let mut skip_next = false;
    while let Some(line) = lines.next() {
        if line.starts_with("<!-- readme-test: skip") {
            skip_next = true;
            continue;
        }
        if line.trim_end() == "```sh" {
            let mut block = String::new();
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                block.push_str(l);
                block.push('\n');
            }
            if !std::mem::take(&mut skip_next) {
                blocks.push(block);
            }
        } else if !line.trim().is_empty() {
            skip_next = false;
        }
    }
    blocks
}

/// `docs/*.md`, in name order, with their text.
fn docs() -> Vec<(String, String)> {
    let mut docs: Vec<(String, String)> = std::fs::read_dir(workspace().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| {
            let name = format!("docs/{}", p.file_name().expect("name").to_string_lossy());
            (name, std::fs::read_to_string(&p).expect("readable"))
        })
        .collect();
    docs.sort();
    docs
}

/// The lines a marker `=== <file>` starts, up to the next marker.
fn section<'a>(stdout: &'a str, file: &str) -> &'a str {
    let start = stdout
        .find(&format!("=== {file}\n"))
        .unwrap_or_else(|| panic!("no output of {file}"));
    let rest = &stdout[start + 5 + file.len()..];
    &rest[..rest.find("\n=== ").unwrap_or(rest.len())]
}

#[test]
fn skip_markers_skip_one_block_and_say_why() {
    let md = "<!-- readme-test: skip (needs a cluster) -->\n```sh\nkubectl apply\n```\n\n\
              ```sh\necho one\n```\n<!-- readme-test: skip (x) -->\n\ntext\n```sh\necho two\n```\n";
    assert_eq!(runnable_blocks(md), ["echo one\n", "echo two\n"]);
    for (file, text) in std::iter::once(("README.md".to_owned(), readme())).chain(docs()) {
        for line in text
            .lines()
            .filter(|l| l.starts_with("<!-- readme-test: skip"))
        {
            let reason = line
                .strip_prefix("<!-- readme-test: skip (")
                .and_then(|r| r.strip_suffix(") -->"));
            assert!(
                reason.is_some_and(|r| r.len() >= 8),
                "{file}: a skip marker says why: {line}"
            );
        }
    }
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).expect("README.md")
}

#[test]
fn readme_and_docs_commands_run_as_printed() {
    let blocks = runnable_blocks(&readme());
    assert!(blocks.len() >= 10, "{} runnable blocks", blocks.len());
    let docs: Vec<(String, Vec<String>)> = docs()
        .into_iter()
        .map(|(name, text)| (name, runnable_blocks(&text)))
        .filter(|(_, blocks)| !blocks.is_empty())
        .collect();
    let names: Vec<&str> = docs.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["docs/deploy.md", "docs/sensorbis.md"] {
        assert!(
            names.contains(&expected),
            "{expected} has runnable blocks: {names:?}"
        );
    }
    let h = Start::app().start().expect("host starts");
    let address = h.base.trim_start_matches("http://").to_owned();
    let port = address.rsplit(':').next().expect("a port").to_owned();

    let cwd = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(cwd.path().join(".spin")).expect(".spin");
    std::fs::write(cwd.path().join(".spin/operator-token"), OPERATOR_TOKEN).expect("token");
    std::fs::write(cwd.path().join(".spin/cron-token"), CRON_TOKEN).expect("token");
    let mut script = String::from(
        "set -euo pipefail\ncurl() { command curl --silent --show-error --fail-with-body \"$@\"; }\n",
    );
    for b in &blocks {
        script.push_str(b);
        script.push_str("echo\n");
    }
    for (name, blocks) in &docs {
        script.push_str(&format!("echo '=== {name}'\n"));
        for b in blocks {
            script.push_str(b);
            script.push_str("echo\n");
        }
    }
    let script = script
        .replace("127.0.0.1:3000", &address)
        .replace("-port 3000", &format!("-port {port}"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(cwd.path())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's or the docs' commands failed ({}; the last `=== file` in stdout says whose):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- host\n{}",
        out.status,
        h.output()
    );
    // What each part of the walk-through is for, as its reader would check it.
    // /health names the store the run uses (SQLite, or PostgreSQL in the suite's second run).
    let health = if fieldline_tests::postgres() {
        "\"postgres\":\"ok\""
    } else {
        "\"sqlite\":\"ok\""
    };
    for expected in [
        health,                              // /health
        "\"communicationId\":\"auto~watt\"", // the channels
        "flc_",                              // a Conduit token's secret
        "\"pointsPerHour\":720000",          // the operator's renewal
        "\"fits\":true",                     // the calculator
        "time,device,sensor,channel",        // the CSV export
        "\"points\":2",                      // the Conduit upload
        "\"val_calibrated\":462.467835",     // read back through /conduitv6
        "\"columns\":[\"time\",\"mean\"]",   // the InfluxQL query through /query
        ",5000]",                            // ... with the value /write stored
        "auto~watt",                         // SHOW MEASUREMENTS through the influx CLI
        "\"stored\":1",                      // the Sensorbis push
        "\"purgedCounters\"",                // the maintenance run
    ] {
        assert!(stdout.contains(expected), "{expected:?} in\n{stdout}");
    }
    let readme_part = &stdout[..stdout.find("=== docs/").unwrap_or(stdout.len())];
    assert!(readme_part.contains("\"purgedCounters\""), "{readme_part}");
    for (file, expected) in [
        ("docs/deploy.md", "\"rolledUpChannelHours\""), // GET /maintenance/run?token=
        ("docs/deploy.md", "\"deviationMessagesQueued\""), // POST /notifier/run, Bearer
        ("docs/sensorbis.md", "\"authorization\":\"fls_"), // AddDevices
        ("docs/sensorbis.md", "\"stored\":1"),          // the push
    ] {
        let out = section(&stdout, file);
        assert!(
            out.contains(expected),
            "{expected:?} in {file}'s output:\n{out}"
        );
    }
}
