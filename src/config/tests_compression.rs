//! Tests of `--compression` and `--compression-threshold`.

use super::*;

fn parse(list: &[&str], var: Option<&str>) -> Result<Config, ConfigError> {
    let var = var.map(str::to_owned);
    Config::parse(list.iter().map(OsString::from), |k| {
        (k == "LOOPCAST_COMPRESSION").then(|| var.clone()).flatten()
    })
}

#[test]
fn compression_default_follows_the_build() {
    let c = parse(&[], None).unwrap();
    assert_eq!(c.compression, cfg!(feature = "deflate"));
    assert_eq!(c.compression_threshold, 256);
    assert!(help_text().contains("--compression on|off"));
    assert!(help_text().contains("[env: LOOPCAST_COMPRESSION_THRESHOLD] [default: 256]"));
}

#[test]
fn compression_values() {
    assert!(!parse(&["--compression", "OFF"], None).unwrap().compression);
    assert!(!parse(&[], Some("off")).unwrap().compression);
    let on = parse(&["--compression", "on"], None);
    if cfg!(feature = "deflate") {
        assert!(on.unwrap().compression);
    } else {
        assert_eq!(
            on,
            Err(ConfigError::Invalid(
                "invalid value \"on\" for --compression: \
                 this build has no deflate feature; only off"
                    .into()
            ))
        );
    }
    assert_eq!(
        parse(&["--compression", "yes"], None),
        Err(ConfigError::Invalid(
            "invalid value \"yes\" for --compression: expected on or off".into()
        ))
    );
    let zero = parse(&["--compression-threshold", "0"], None).unwrap();
    assert_eq!(zero.compression_threshold, 0);
    assert!(parse(&["--compression-threshold", "-1"], None).is_err());
}
