//! Tests of refusals (bad values, cross-flag rules), `--help` and the environment names.

use super::flags::Spec;
use super::tests::{error, help, ok};
use super::values::*;
use super::*;

#[test]
fn bad_values_name_the_flag_and_the_value() {
    assert_eq!(
        error(&["--max-pending", "abc"], &[]),
        "invalid value \"abc\" for --max-pending: expected bytes like 1048576 or 1MiB"
    );
    assert_eq!(
        error(&["--max-connections=lots"], &[]),
        "invalid value \"lots\" for --max-connections: expected a whole number like 100"
    );
    assert_eq!(
        error(&["--ping-interval", "soon"], &[]),
        "invalid value \"soon\" for --ping-interval: expected seconds like 30, 0.5 or 500ms"
    );
    assert_eq!(
        error(&["--allowed-origins", "example.com"], &[]),
        format!("invalid value \"example.com\" for --allowed-origins: {EXPECT_ORIGINS}")
    );
    for bad in ["http://a.example", "a.example/x", "[zz]", ",", "a b"] {
        assert_eq!(
            error(&["--allowed-hosts", bad], &[]),
            format!("invalid value {bad:?} for --allowed-hosts: {EXPECT_HOSTS}")
        );
    }
    assert_eq!(
        error(&["--api-key="], &[]),
        "invalid value \"\" for --api-key: expected a non-empty value"
    );
    assert_eq!(
        error(&["--rate-limit", "-1"], &[]),
        "invalid value \"-1\" for --rate-limit: expected a whole number like 100"
    );
}

#[test]
fn bad_env_values_name_the_variable() {
    assert_eq!(
        error(&[], &[("LOOPCAST_MAX_PENDING", "lots")]),
        "invalid value \"lots\" for LOOPCAST_MAX_PENDING: expected bytes like 1048576 or 1MiB"
    );
    assert_eq!(
        error(&[], &[("LOOPCAST_IDLE_TIMEOUT", "0")]),
        "invalid value \"0\" for LOOPCAST_IDLE_TIMEOUT: must be greater than 0"
    );
}

#[test]
fn values_with_newlines_stay_on_one_line() {
    let line = error(&["--listen", "1.2.3.4:80\nrm -rf /"], &[]);
    assert!(line.contains(r"\n"), "{line}");
}

#[test]
fn zero_is_refused_where_it_makes_no_sense() {
    for flag in [
        "max-connections",
        "max-message",
        "max-pending",
        "ping-interval",
        "idle-timeout",
        "handshake-timeout",
        "max-rooms",
    ] {
        assert_eq!(
            error(&[&format!("--{flag}"), "0"], &[]),
            format!("invalid value \"0\" for --{flag}: must be greater than 0")
        );
    }
    assert_eq!(
        error(&["--ping-interval", "0ms"], &[]),
        "invalid value \"0ms\" for --ping-interval: must be greater than 0"
    );
}

#[test]
fn idle_timeout_must_exceed_ping_interval() {
    assert_eq!(
        error(&["--idle-timeout", "30"], &[]),
        "--idle-timeout 30s must be longer than default --ping-interval 30s, \
         or quiet clients are closed before they are pinged"
    );
    assert_eq!(
        error(
            &["--ping-interval", "90"],
            &[("LOOPCAST_IDLE_TIMEOUT", "1.5")]
        ),
        "LOOPCAST_IDLE_TIMEOUT 1.5s must be longer than --ping-interval 90s, \
         or quiet clients are closed before they are pinged"
    );
    let c = ok(&["--ping-interval", "90", "--idle-timeout", "91"]);
    assert_eq!(c.idle_timeout, Duration::from_secs(91));
}

#[test]
fn pending_must_hold_one_message() {
    assert_eq!(
        error(&["--max-message", "2M"], &[]),
        "default --max-pending 1MiB must be at least --max-message 2MiB, \
         or one large message closes its receivers"
    );
    assert_eq!(
        ok(&["--max-message", "2M", "--max-pending", "2M"]).max_pending,
        2 << 20
    );
}

#[test]
fn memory_must_hold_a_few_backlogs() {
    assert_eq!(
        error(&["--max-memory", "3MiB"], &[]),
        "--max-memory 3MiB must be at least 4 x default --max-pending 1MiB, \
         or a few slow clients take the whole budget"
    );
    assert_eq!(
        ok(&["--max-memory", "3MiB", "--max-pending", "512K"]).max_memory,
        3 << 20
    );
    assert_eq!(ok(&["--max-memory", "32MiB"]).max_memory, 32 << 20);
}

#[test]
fn unknown_options_and_arguments() {
    assert_eq!(error(&["--foo"], &[]), "unknown option --foo (see --help)");
    assert_eq!(
        error(&["--foo=1"], &[]),
        "unknown option --foo (see --help)"
    );
    assert_eq!(error(&["-x"], &[]), "unknown option -x (see --help)");
    assert_eq!(
        error(&["serve"], &[]),
        "unexpected argument \"serve\" (see --help)"
    );
    assert_eq!(
        error(&["--", "--listen"], &[]),
        "unexpected argument \"--listen\" (see --help)"
    );
    assert_eq!(
        error(&["--listen"], &[]),
        "missing value for --listen (see --help)"
    );
}

#[cfg(unix)]
#[test]
fn non_utf8_values_are_refused() {
    use std::os::unix::ffi::OsStringExt;
    let list = vec![
        OsString::from("--api-key"),
        OsString::from_vec(b"k\xff".to_vec()),
    ];
    match Config::parse(list, |_| None) {
        Err(ConfigError::Invalid(line)) => {
            assert_eq!(
                line,
                "invalid value \"k\u{fffd}\" for --api-key: not valid UTF-8"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn help_lists_every_flag_with_env_and_default() {
    let text = help(&["--help"], &[]);
    assert_eq!(text, help(&["-h"], &[]));
    assert!(text.contains("Usage: loopcast [OPTIONS]\n"), "{text}");
    for spec in &FLAGS {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("  --{} {} ", spec.name, spec.metavar)))
            .unwrap_or_else(|| panic!("no line for --{}", spec.name));
        assert!(
            line.contains(&format!("[env: {}]", spec.env_var())),
            "{line}"
        );
    }
    let line = text.lines().find(|l| l.contains("--max-pending")).unwrap();
    assert!(line.starts_with("  --max-pending BYTES "), "{line}");
    assert!(line.ends_with(
        "output queued per client before it is closed with 1013 \
         [env: LOOPCAST_MAX_PENDING] [default: 1MiB]"
    ));
    for default in [
        "[default: 127.0.0.1:8080]",
        "[default: 10000]",
        "[default: 64KiB]",
        "[default: 30s]",
        "[default: 60s]",
        "[default: 10s]",
        "[default: info]",
        "[default: 50]",
        "[default: 32]",
        "[default: 128]",
    ] {
        assert!(text.contains(default), "{default}");
    }
    assert!(text.contains("-V, --version"));
    assert!(text.ends_with('\n'));
}

#[test]
fn help_wins_over_bad_env_and_later_flags() {
    help(&["--help", "--bogus"], &[("LOOPCAST_LISTEN", "nowhere")]);
    help(&["--history", "3", "-h"], &[]);
}

#[test]
fn version_line() {
    let expected = format!("loopcast {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(help(&["--version"], &[]), expected);
    assert_eq!(help(&["-V"], &[]), expected);
}

#[test]
fn env_names_follow_the_flag_names() {
    let names: Vec<String> = FLAGS.iter().map(Spec::env_var).collect();
    assert!(names.contains(&"LOOPCAST_MAX_PENDING".to_owned()));
    assert!(names.contains(&"LOOPCAST_LISTEN".to_owned()));
    for (i, spec) in FLAGS.iter().enumerate() {
        assert_eq!(spec.flag as usize, i, "FLAGS must be in Flag order");
    }
}

#[test]
fn history_bytes_follows_max_pending_unless_given() {
    assert_eq!(ok(&[]).history_bytes(), 256 << 10);
    assert_eq!(ok(&["--max-pending", "4MiB"]).history_bytes(), 1 << 20);
    let given = ok(&["--max-pending", "4MiB", "--history-bytes", "1000"]);
    assert_eq!(given.history_bytes(), 1000);
    assert_eq!(ok(&["--history-bytes", "0"]).history_bytes(), 0);
}

#[test]
fn cluster_flags() {
    let c = ok(&["--reuse-port", "--node-id", "a.b-1"]);
    #[cfg(not(feature = "redis"))]
    assert!(Config::parse(["--redis", "redis://h"].map(OsString::from), |_| None).is_err());
    assert!(c.reuse_port);
    assert_eq!(c.node_id.as_deref(), Some("a.b-1"));
    assert!(!ok(&[]).reuse_port);
    for bad in [
        &["--node-id", "a b"][..],
        &["--node-id", ""],
        &["--redis", "http://x"],
    ] {
        assert!(
            matches!(
                Config::parse(bad.iter().map(OsString::from), |_| None),
                Err(ConfigError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    let env = |k: &str| (k == "LOOPCAST_REUSE_PORT").then(|| "1".to_owned());
    assert!(
        Config::parse(Vec::<OsString>::new(), env)
            .unwrap()
            .reuse_port
    );
}

#[test]
fn storage_flags_have_clear_errors() {
    for (flag, value, words) in [
        ("--fsync", "sometimes", "turn, interval or never"),
        ("--room-ttl", "0", "greater than 0"),
        ("--max-disk", "0", "greater than 0"),
        ("--data-dir", "", "non-empty"),
    ] {
        let line = error(&[flag, value], &[]);
        assert!(line.contains(flag) && line.contains(words), "{line}");
    }
    let c = ok(&[]);
    assert_eq!(
        (c.data_dir, c.fsync),
        (None, crate::hub::store::Fsync::Interval)
    );
    assert_eq!(c.room_ttl, Duration::from_secs(86_400));
}

#[cfg(feature = "redis")]
#[test]
fn redis_with_a_data_dir_is_refused_naming_both() {
    let line = error(
        &["--redis", "redis://127.0.0.1:6379", "--data-dir", "/tmp/x"],
        &[],
    );
    assert!(
        line.contains("--redis") && line.contains("--data-dir") && line.contains("Redis"),
        "{line}"
    );
    let line = error(
        &["--data-dir", "/tmp/x"],
        &[("LOOPCAST_REDIS", "redis://h")],
    );
    assert!(line.contains("LOOPCAST_REDIS"), "{line}");
}
