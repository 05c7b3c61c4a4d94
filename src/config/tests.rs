//! Tests of flag and environment parsing, defaults, help text and error lines.

use std::collections::HashMap;

use super::values::*;
use super::*;

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn with_env(list: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::parse(args(list), |k| vars.get(k).cloned())
}

fn ok(list: &[&str]) -> Config {
    with_env(list, &[]).unwrap_or_else(|e| panic!("{list:?}: {e:?}"))
}

/// The error line, checked to be a single line.
fn error(list: &[&str], vars: &[(&str, &str)]) -> String {
    match with_env(list, vars) {
        Err(ConfigError::Invalid(line)) => {
            assert!(!line.contains('\n') && !line.is_empty(), "{line:?}");
            line
        }
        other => panic!("{list:?} {vars:?}: expected an error, got {other:?}"),
    }
}

fn help(list: &[&str], vars: &[(&str, &str)]) -> String {
    match with_env(list, vars) {
        Err(ConfigError::Help(text)) => text,
        other => panic!("{list:?}: expected help, got {other:?}"),
    }
}

#[test]
fn no_flags_no_env_gives_documented_defaults() {
    let c = ok(&[]);
    assert_eq!(c, Config::default());
    assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.max_connections, 10_000);
    assert_eq!(c.max_message, 65_536);
    assert_eq!(c.max_pending, 1_048_576);
    assert_eq!(c.ping_interval, Duration::from_secs(30));
    assert_eq!(c.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.handshake_timeout, Duration::from_secs(10));
    assert_eq!(c.log_level, log::LevelFilter::Info);
    assert_eq!((c.rate_limit, c.history, c.max_rooms), (50, 32, 128));
    assert_eq!(c.max_memory, 64 << 20);
    assert_eq!(
        (c.broadcast_rate, c.notify_rate, c.raw_rate_limit),
        (5, 20, 0)
    );
    assert_eq!(c.max_connections_per_ip, 0);
    assert!(c.allowed_origins.is_empty() && c.auth_secret.is_none() && c.api_key.is_none());
}

/// Every flag once, as `--flag value`, with the config it should give.
fn all_flags() -> (Vec<(&'static str, &'static str)>, Config) {
    #[allow(unused_mut)]
    let mut pairs = vec![
        ("listen", "0.0.0.0:9000"),
        ("max-connections", "5"),
        ("max-message", "1K"),
        ("max-pending", "2MiB"),
        ("ping-interval", "0.5"),
        ("idle-timeout", "2"),
        ("handshake-timeout", "250ms"),
        ("log-level", "DEBUG"),
        (
            "allowed-origins",
            " https://a.example/ , ,http://localhost:8080,",
        ),
        ("allowed-hosts", " Chat.Example. ,[::1],10.0.0.2"),
        ("auth-secret", "s3cret"),
        ("api-key", "k-1"),
        ("rate-limit", "0"),
        ("history", "0"),
        ("history-bytes", "64KiB"),
        ("max-rooms", "7"),
        ("max-memory", "32MiB"),
        ("broadcast-rate", "0"),
        ("notify-rate", "3"),
        ("raw-rate-limit", "100"),
        ("max-connections-per-ip", "16"),
        ("data-dir", "/var/lib/loopcast"),
        ("fsync", "Turn"),
        ("room-ttl", "90"),
        ("max-disk", "8MiB"),
        ("node-id", "n-1"),
        ("compression", "off"),
        ("compression-threshold", "1KiB"),
    ];
    let expected = Config {
        listen: "0.0.0.0:9000".parse().unwrap(),
        max_connections: 5,
        max_message: 1024,
        max_pending: 2 << 20,
        ping_interval: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_millis(250),
        log_level: log::LevelFilter::Debug,
        allowed_origins: vec!["https://a.example".into(), "http://localhost:8080".into()],
        allowed_hosts: vec!["chat.example".into(), "[::1]".into(), "10.0.0.2".into()],
        auth_secret: Some("s3cret".into()),
        api_key: Some("k-1".into()),
        rate_limit: 0,
        history: 0,
        history_bytes: Some(64 << 10),
        max_rooms: 7,
        max_memory: 32 << 20,
        broadcast_rate: 0,
        notify_rate: 3,
        raw_rate_limit: 100,
        max_connections_per_ip: 16,
        data_dir: Some("/var/lib/loopcast".into()),
        fsync: crate::hub::store::Fsync::Turn,
        room_ttl: Duration::from_secs(90),
        max_disk: 8 << 20,
        node_id: Some("n-1".into()),
        compression: false,
        compression_threshold: 1024,
        ..Config::default()
    };
    // Without the `tls` feature the TLS flags are refused (see tls_tests).
    #[cfg(feature = "tls")]
    let expected = {
        pairs.extend([("tls-cert", "/etc/c.pem"), ("tls-key", "k.pem")]);
        Config {
            tls_cert: Some("/etc/c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..expected
        }
    };
    #[cfg(feature = "redis")]
    let expected = {
        // The two cannot go together (see redis_with_a_data_dir_is_refused_naming_both).
        pairs.retain(|(flag, _)| *flag != "data-dir");
        pairs.push(("redis", "redis://127.0.0.1:6380/1"));
        let redis = Some("redis://127.0.0.1:6380/1".into());
        Config {
            redis,
            data_dir: None,
            ..expected
        }
    };
    (pairs, expected)
}

#[test]
fn every_flag_with_separate_value() {
    let (pairs, expected) = all_flags();
    let list: Vec<String> = pairs
        .iter()
        .flat_map(|(k, v)| [format!("--{k}"), v.to_string()])
        .collect();
    let list: Vec<&str> = list.iter().map(String::as_str).collect();
    assert_eq!(ok(&list), expected);
}

#[test]
fn every_flag_with_equals_value() {
    let (pairs, expected) = all_flags();
    let list: Vec<String> = pairs.iter().map(|(k, v)| format!("--{k}={v}")).collect();
    let list: Vec<&str> = list.iter().map(String::as_str).collect();
    assert_eq!(ok(&list), expected);
}

#[test]
fn every_flag_from_env() {
    let (pairs, expected) = all_flags();
    let vars: Vec<(String, &str)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                format!("LOOPCAST_{}", k.to_uppercase().replace('-', "_")),
                *v,
            )
        })
        .collect();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(with_env(&[], &vars), Ok(expected));
}

#[test]
fn flags_override_env_which_overrides_defaults() {
    let vars = [
        ("LOOPCAST_MAX_PENDING", "4M"),
        ("LOOPCAST_HISTORY", "5"),
        ("LOOPCAST_LISTEN", ":1"),
    ];
    let c = with_env(&["--max-pending", "3M"], &vars).unwrap();
    assert_eq!(c.max_pending, 3 << 20);
    assert_eq!(c.history, 5);
    assert_eq!(c.listen, "127.0.0.1:1".parse().unwrap());
    assert_eq!(c.max_rooms, 128);
}

#[test]
fn flag_hides_a_bad_env_value() {
    let c = with_env(&["--rate-limit", "9"], &[("LOOPCAST_RATE_LIMIT", "lots")]).unwrap();
    assert_eq!(c.rate_limit, 9);
}

#[test]
fn empty_env_counts_as_unset() {
    let vars = [
        ("LOOPCAST_MAX_CONNECTIONS", ""),
        ("LOOPCAST_AUTH_SECRET", ""),
    ];
    assert_eq!(with_env(&[], &vars), Ok(Config::default()));
}

#[test]
fn last_flag_wins() {
    assert_eq!(ok(&["--history", "1", "--history=2"]).history, 2);
}

#[test]
fn byte_suffixes_are_binary() {
    for (text, bytes) in [
        ("1048576", 1 << 20),
        ("100B", 100),
        ("64K", 64 << 10),
        ("64k", 64 << 10),
        ("64KB", 64 << 10),
        ("64KiB", 64 << 10),
        ("64 KiB", 64 << 10),
        ("1M", 1 << 20),
        ("1MB", 1 << 20),
        ("1MiB", 1 << 20),
        ("2mib", 2 << 20),
        ("1GiB", 1 << 30),
    ] {
        assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
    }
    for bad in [
        "",
        "abc",
        "K",
        "1.5M",
        "-1",
        "+1",
        "1T",
        "1 M B",
        "99999999999999999999G",
    ] {
        assert_eq!(parse_bytes(bad), Err(EXPECT_BYTES), "{bad:?}");
    }
}

#[test]
fn seconds_are_exact() {
    for (text, d) in [
        ("30", Duration::from_secs(30)),
        ("30s", Duration::from_secs(30)),
        ("0.5", Duration::from_millis(500)),
        ("1.25", Duration::from_millis(1250)),
        ("0.000000001", Duration::from_nanos(1)),
        ("500ms", Duration::from_millis(500)),
        ("0", Duration::ZERO),
    ] {
        assert_eq!(parse_secs(text), Some(d), "{text}");
    }
    for bad in [
        "",
        "abc",
        "1.",
        ".5",
        "1e3",
        "inf",
        "NaN",
        "-1",
        "1.2.3",
        "0.0000000001",
        "1m",
        "1.5ms",
    ] {
        assert_eq!(parse_secs(bad), None, "{bad:?}");
    }
}

#[test]
fn shown_defaults_read_back_to_the_defaults() {
    let defaults = Config::default();
    for spec in &FLAGS {
        if let Some(text) = show_default(&defaults, spec.flag) {
            let mut c = defaults.clone();
            c.set(spec.flag, &text).unwrap();
            assert_eq!(c, defaults, "--{} {text}", spec.name);
        }
    }
    assert_eq!(show_secs(Duration::from_millis(1250)), "1.25s");
    assert_eq!(show_bytes(1000), "1000");
}

#[test]
fn listen_forms() {
    let at = |text: &str| ok(&["--listen", text]).listen;
    assert_eq!(at("0.0.0.0:80"), "0.0.0.0:80".parse().unwrap());
    assert_eq!(at("[::]:8080"), "[::]:8080".parse().unwrap());
    assert_eq!(at("localhost:9000"), "127.0.0.1:9000".parse().unwrap());
    assert_eq!(at("LocalHost:9000"), "127.0.0.1:9000".parse().unwrap());
    assert_eq!(at(":0"), "127.0.0.1:0".parse().unwrap());
    assert_eq!(at("8081"), "127.0.0.1:8081".parse().unwrap());
    for bad in [
        "",
        "example.com:80",
        "127.0.0.1",
        "127.0.0.1:70000",
        ":",
        ":+1",
        "[::1]",
        "localhost",
    ] {
        assert_eq!(
            error(&["--listen", bad], &[]),
            format!("invalid value {bad:?} for --listen: {EXPECT_ADDR}")
        );
    }
}

#[test]
fn log_levels() {
    for (text, level) in [
        ("off", log::LevelFilter::Off),
        ("error", log::LevelFilter::Error),
        ("Warn", log::LevelFilter::Warn),
        ("info", log::LevelFilter::Info),
        ("debug", log::LevelFilter::Debug),
        ("TRACE", log::LevelFilter::Trace),
    ] {
        assert_eq!(ok(&["--log-level", text]).log_level, level);
    }
    assert_eq!(
        error(&["--log-level", "verbose"], &[]),
        "invalid value \"verbose\" for --log-level: expected one of off, error, warn, info, debug, trace"
    );
}

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
