//! The deployment files in `deploy/` are checked by the tools that read them.

use std::path::Path;
use std::process::Command;

/// `deploy/systemd/latchkey.service` passes `systemd-analyze verify` without a warning, and
/// keeps the hardening docs/deploy.md promises. The unit is checked as installed, with its
/// `ExecStart` pointing at the binary the tests built.
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let unit = std::fs::read_to_string(repo.join("deploy/systemd/latchkey.service"))
        .expect("read the unit");
    for line in [
        "DynamicUser=yes",
        "StateDirectory=latchkey",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "LoadCredential=secret.key:",
        "LoadCredential=database-url:",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
    let bin = latchkey_tests::latchkey_bin();
    let installed = unit.replace("/usr/local/bin/latchkey", &bin.display().to_string());
    assert_ne!(installed, unit, "ExecStart names /usr/local/bin/latchkey");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("latchkey.service");
    std::fs::write(&path, installed).expect("write the unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze (tests/setup/install-deps.sh installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Lines about the host's own units (this machine may not boot with systemd) are not ours.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("latchkey.service"))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

/// A unit with a typo would be caught: the check above is not blind to warnings.
#[test]
fn systemd_analyze_reports_an_unknown_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("latchkey.service");
    std::fs::write(
        &path,
        "[Service]\nExecStart=/bin/true\nProtectSystm=strict\n",
    )
    .expect("write the unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ProtectSystm"), "{stderr}");
}

/// The `latchkey.toml` of `deploy/kubernetes/latchkey.yaml`'s ConfigMap, unindented.
fn kubernetes_config() -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let yaml = std::fs::read_to_string(repo.join("deploy/kubernetes/latchkey.yaml"))
        .expect("read the manifest");
    let start = yaml
        .find("latchkey.toml: |\n")
        .expect("the ConfigMap's latchkey.toml")
        + "latchkey.toml: |\n".len();
    let block = &yaml[start..];
    let end = block.find("\n---").unwrap_or(block.len());
    block[..end]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Kubernetes example's configuration is one `latchkey config check` accepts, with the
/// secret files where the manifest mounts them (here in a temporary directory).
#[test]
fn the_kubernetes_example_configuration_checks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).expect("mkdir");
    std::fs::write(secrets.join("secret.key"), "k".repeat(64)).expect("write secret");
    std::fs::write(
        secrets.join("database-url"),
        "postgres://latchkey:pw@127.0.0.1:5432/latchkey",
    )
    .expect("write url");
    let config =
        kubernetes_config().replace("/etc/latchkey/secrets", &secrets.display().to_string());
    assert!(config.contains("[redis]") && config.contains("external_scheme = \"https\""));
    std::fs::write(dir.path().join("latchkey.toml"), &config).expect("write config");
    let out = Command::new(latchkey_tests::latchkey_bin())
        .args(["--config", "latchkey.toml", "config", "check"])
        .current_dir(dir.path())
        .env_remove("LATCHKEY_CONFIG")
        .output()
        .expect("run latchkey");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("external_host = \"chat.example.org\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains(":pw@"),
        "the database password is shown: {stdout}"
    );
}
