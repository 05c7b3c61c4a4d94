//! The check between `--tls-cert` and `--tls-key` (loading the files is `crate::tls`).

use super::{Config, ConfigError, Flag};

impl Config {
    /// TLS needs both files, and a build with the `tls` feature.
    pub(super) fn check_tls(&self, from: &dyn Fn(Flag) -> String) -> Result<(), ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => return Ok(()),
            (Some(_), None) => {
                return Err(ConfigError::Invalid(format!(
                    "{} is set but --tls-key is not: TLS needs both",
                    from(Flag::TlsCert)
                )));
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid(format!(
                    "{} is set but --tls-cert is not: TLS needs both",
                    from(Flag::TlsKey)
                )));
            }
            (Some(_), Some(_)) => {}
        }
        if cfg!(feature = "tls") {
            Ok(())
        } else {
            Err(ConfigError::Invalid(format!(
                "{}: this loopcast was built without TLS (cargo feature `tls`)",
                from(Flag::TlsCert)
            )))
        }
    }
}
