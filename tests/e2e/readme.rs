//! The README's commands run as printed: every ` ```sh ` block of README.md, in order, in one
//! shell, against a host serving the application (its address put in for `127.0.0.1:3000`),
//! from a directory whose `.spin/operator-token` is the host's, as `scripts/up` leaves it. A
//! block preceded by `<!-- readme-test: skip (why) -->` is not run. `curl` fails on an HTTP
//! error status here, so a command that answers 4xx or 5xx fails the test.

use std::process::Command;

use fieldline_tests::{workspace, Start, OPERATOR_TOKEN};

/// The README's runnable shell blocks, in order.
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

#[test]
fn readme_commands_run_as_printed() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let blocks = runnable_blocks(&readme);
    assert!(blocks.len() >= 10, "{} runnable blocks", blocks.len());
    let h = Start::app().start().expect("host starts");
    let address = h.base.trim_start_matches("http://").to_owned();
    let port = address.rsplit(':').next().expect("a port").to_owned();

    let cwd = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(cwd.path().join(".spin")).expect(".spin");
    std::fs::write(cwd.path().join(".spin/operator-token"), OPERATOR_TOKEN).expect("token");
    let mut script = String::from(
        "set -euo pipefail\ncurl() { command curl --silent --show-error --fail-with-body \"$@\"; }\n",
    );
    for b in &blocks {
        script.push_str(b);
        script.push_str("echo\n");
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
        "the README's commands failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- host\n{}",
        out.status,
        h.output()
    );
    // What each part of the walk-through is for, as its reader would check it.
    for expected in [
        "\"sqlite\":\"ok\"",                 // /health
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
}
