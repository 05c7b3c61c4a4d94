//! HS256 JWT validation for upgrades when `--auth-secret` is set.
//!
//! SKELETON: the public API below is fixed; bodies are to be written.

/// Why a token was refused (all answered 401 before the upgrade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No token in `?token=` nor `Authorization: Bearer`.
    Missing,
    /// Not three base64url parts, bad JSON, or `alg` other than HS256.
    Malformed(&'static str),
    /// Signature does not match the secret.
    BadSignature,
    /// `exp` is in the past.
    Expired,
    /// No string `sub` claim.
    NoSubject,
}

/// Verifies an HS256 `token` with `secret` at `now_unix` seconds and returns its `sub`.
pub fn verify(token: &str, secret: &[u8], now_unix: u64) -> Result<String, AuthError> {
    let _ = (token, secret, now_unix);
    unimplemented!("auth::verify")
}
