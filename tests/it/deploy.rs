//! The deployment under deploy/: what can run here runs. The compose file gives each server
//! the command the netns test runs (`netns::compose_command`) on deploy/herd.ron, and is
//! validated by `docker compose config` (or docker-compose) where one is installed; the image
//! is built only where a Docker engine answers; the Kubernetes pods' start script runs as
//! plain `sh`; the systemd unit passes `systemd-analyze verify` where systemd is installed;
//! deploy/certs.sh makes certificates the servers load. Whatever cannot run is said on
//! stderr, past the harness's capture.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use herd::addr::PeerAddr;
use herd::config::{Config, TlsConfig};

use crate::netns::compose_command;
use crate::procs::{BIN, NAMES};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("deploy/{file}: {e}"))
}

fn not_run(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "\nNOT RUN here: {what}: {why}");
}

/// Runs a command; `None` when it cannot be started at all.
fn output(cmd: &mut Command) -> Option<Output> {
    cmd.stdin(Stdio::null()).output().ok()
}

fn works(program: &str, args: &[&str]) -> bool {
    output(Command::new(program).args(args)).is_some_and(|o| o.status.success())
}

#[test]
fn compose_runs_each_server_by_service_name_with_the_command_the_netns_test_runs() {
    let compose = read("compose.yaml");
    let cfg = Config::load(&deploy("herd.ron")).unwrap_or_else(|e| panic!("{e}"));
    for name in NAMES {
        let service = name.to_lowercase();
        let quoted: Vec<String> = compose_command(name)
            .iter()
            .map(|a| format!("{a:?}"))
            .collect();
        let command = format!("    command: [{}]", quoted.join(", "));
        assert!(
            compose.contains(&format!("\n  {service}:\n")),
            "service {service}"
        );
        assert!(compose.contains(&command), "{command}");
        for secret in [format!("target: {name}.crt"), format!("target: {name}.key")] {
            assert!(compose.contains(&secret), "{secret}");
        }
        assert_eq!(
            cfg.peer_address(name),
            Some(PeerAddr::Name {
                host: service,
                port: 20000
            })
        );
    }
    let tls = cfg.tls.expect("deploy/herd.ron has tls");
    assert_eq!(tls.ca, "/run/secrets/herd-ca.crt");
    assert!(
        compose.contains("target: herd-ca.crt")
            && compose.contains("HERD_SECRET_FILE: /run/secrets/herd_secret")
    );

    let file = deploy("compose.yaml");
    let file = file.to_str().expect("utf-8 path");
    let validate = if works("docker", &["compose", "version"]) {
        Some((
            "docker compose config",
            output(Command::new("docker").args(["compose", "-f", file, "config", "-q"])),
        ))
    } else if works("docker-compose", &["--version"]) {
        Some((
            "docker-compose config",
            output(Command::new("docker-compose").args(["-f", file, "config", "-q"])),
        ))
    } else {
        not_run(
            "docker compose config",
            "neither `docker compose` nor docker-compose is installed",
        );
        None
    };
    if let Some((what, out)) = validate {
        let out = out.expect("the validator runs");
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_image_default_command_checks_the_config_it_ships_and_builds_where_docker_can() {
    let dockerfile = read("Dockerfile");
    for line in [
        "FROM rust:1.95-slim-bookworm AS build",
        "RUN cargo build --release --locked --bin herd",
        "FROM debian:bookworm-slim",
        "COPY --from=build /src/target/release/herd /usr/local/bin/herd",
        "COPY deploy/herd.ron /etc/herd/herd.ron",
        "USER herd:herd",
        "VOLUME [\"/var/lib/herd\", \"/var/log/herd\"]",
        "ENTRYPOINT [\"herd\"]",
        "CMD [\"check\", \"--config\", \"/etc/herd/herd.ron\"]",
    ] {
        assert!(dockerfile.lines().any(|l| l == line), "Dockerfile: {line}");
    }
    // The image's default command, on the config it copies.
    let out = output(
        Command::new(BIN)
            .args(["check", "--config"])
            .arg(deploy("herd.ron")),
    )
    .expect("herd");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(": ok, 5 servers, 6 links"),
        "{text}"
    );
    if works("docker", &["info"]) {
        let root = env!("CARGO_MANIFEST_DIR");
        let out = output(
            Command::new("docker")
                .args(["build", "-f", "deploy/Dockerfile", "-t", "herd:test", "."])
                .current_dir(root),
        )
        .expect("docker build runs");
        assert!(
            out.status.success(),
            "docker build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        not_run(
            "docker build -f deploy/Dockerfile",
            "no Docker engine answers `docker info`",
        );
    }
}

/// The indented block that follows the line `opener` (its indentation removed).
fn block_after(text: &str, opener: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim() != opener).skip(1);
    let first = lines.next().expect("a block after the opener");
    let indent = first.len() - first.trim_start().len();
    std::iter::once(first)
        .chain(
            lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent),
        )
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_kubernetes_pod_runs_the_server_its_ordinal_names_and_is_dialed_at_its_pod_name() {
    let manifest = read("k8s/herd.yaml");
    let cfg = Config::parse(
        &block_after(&manifest, "herd.ron: |"),
        "deploy/k8s/herd.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let script = block_after(&manifest, "- |").replace("exec herd ", "exec echo herd ");
    for (i, name) in NAMES.iter().enumerate() {
        let out = output(
            Command::new("sh")
                .args(["-c", &script])
                .env("HOSTNAME", format!("herd-{i}")),
        )
        .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("herd run {name} --config /etc/herd/herd.ron --data-dir /var/lib/herd --log-dir /var/log/herd\n")
        );
        assert_eq!(
            cfg.peer_address(name),
            Some(PeerAddr::Name {
                host: format!("herd-{i}.herd"),
                port: 20000
            })
        );
    }
}

#[test]
fn the_systemd_unit_is_type_notify_and_verifies() {
    let unit = read("systemd/herd@.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/herd run %i --config /etc/herd/herd.ron --data-dir /var/lib/herd --log-dir /var/log/herd",
        "WatchdogSec=10s",
        "Environment=HERD_SECRET_FILE=%d/herd_secret",
    ] {
        assert!(unit.lines().any(|l| l == line), "herd@.service: {line}");
    }
    if !works("systemd-analyze", &["--version"]) {
        return not_run(
            "systemd-analyze verify herd@.service",
            "systemd is not installed",
        );
    }
    // This machine has no `herd` user and no /usr/local/bin/herd: point the copy at ours.
    let dir = tempfile::tempdir().unwrap();
    let copy = unit
        .replace("/usr/local/bin/herd", BIN)
        .replace("User=herd", "User=root")
        .replace("Group=herd", "Group=root");
    std::fs::write(dir.path().join("herd@.service"), copy).unwrap();
    let out = output(
        Command::new("systemd-analyze")
            .args(["verify", "herd@Clark.service"])
            .current_dir(dir.path()),
    )
    .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("herd@"), "{err}");
}

#[test]
fn certs_sh_makes_certificates_every_server_accepts() {
    if !works("openssl", &["version"]) {
        return not_run("deploy/certs.sh", "openssl is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = output(Command::new("sh").arg(deploy("certs.sh")).arg(d)).expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tls = TlsConfig {
        cert: format!("{}/{{name}}.crt", d.display()),
        key: format!("{}/{{name}}.key", d.display()),
        ca: format!("{}/herd-ca.crt", d.display()),
    };
    for name in NAMES {
        if let Err(e) = herd::tls::LinkTls::load(&tls, name) {
            panic!("{e}");
        }
    }
    let secret = std::fs::read_to_string(d.join("herd_secret")).unwrap();
    assert_eq!(secret.trim_end().len(), 64, "{secret}");
}
