//! Tests of the `--tls-cert` / `--tls-key` pair (paths only; loading is in `tls`).

use std::ffi::OsString;

use super::*;

fn parse(list: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::parse(list.iter().map(OsString::from), |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
}

fn error(list: &[&str], vars: &[(&str, &str)]) -> String {
    match parse(list, vars) {
        Err(ConfigError::Invalid(line)) => {
            assert!(!line.contains('\n'), "{line:?}");
            line
        }
        other => panic!("{list:?}: expected an error, got {other:?}"),
    }
}

#[test]
fn tls_needs_both_files() {
    let e = error(&["--tls-cert", "c.pem"], &[]);
    assert!(e.contains("--tls-cert") && e.contains("--tls-key"), "{e}");
    let e = error(&[], &[("LOOPCAST_TLS_KEY", "k.pem")]);
    assert!(
        e.starts_with("LOOPCAST_TLS_KEY ") && e.contains("needs both"),
        "{e}"
    );
    assert!(error(&["--tls-cert", ""], &[]).contains("non-empty"));
}

#[test]
fn tls_flags_and_env() {
    let got = parse(
        &["--tls-key", "/k.pem"],
        &[
            ("LOOPCAST_TLS_CERT", "/c.pem"),
            ("LOOPCAST_TLS_KEY", "/other.pem"),
        ],
    );
    if cfg!(feature = "tls") {
        let c = got.unwrap();
        assert_eq!(c.tls_cert.as_deref(), Some(std::path::Path::new("/c.pem")));
        assert_eq!(c.tls_key.as_deref(), Some(std::path::Path::new("/k.pem")));
    } else {
        match got {
            Err(ConfigError::Invalid(e)) => assert!(e.contains("built without TLS"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(parse(&[], &[]).unwrap().tls_cert, None);
}

#[test]
fn help_lists_the_tls_flags() {
    match parse(&["--help"], &[]) {
        Err(ConfigError::Help(text)) => {
            assert!(text.contains("--tls-cert FILE") && text.contains("LOOPCAST_TLS_KEY"));
        }
        other => panic!("{other:?}"),
    }
}
