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

pub(super) fn ok(list: &[&str]) -> Config {
    with_env(list, &[]).unwrap_or_else(|e| panic!("{list:?}: {e:?}"))
}

/// The error line, checked to be a single line.
pub(super) fn error(list: &[&str], vars: &[(&str, &str)]) -> String {
    match with_env(list, vars) {
        Err(ConfigError::Invalid(line)) => {
            assert!(!line.contains('\n') && !line.is_empty(), "{line:?}");
            line
        }
        other => panic!("{list:?} {vars:?}: expected an error, got {other:?}"),
    }
}

pub(super) fn help(list: &[&str], vars: &[(&str, &str)]) -> String {
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
