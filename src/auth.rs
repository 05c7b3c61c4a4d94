//! HS256 JWT validation for upgrades when `--auth-secret` is set.
//!
//! Only what loopcast needs of RFC 7519: a compact JWS with `alg` `HS256`
//! (anything else, `none` included, is refused), a string `sub` that becomes
//! the user, and `exp` and `nbf` (seconds since the epoch) enforced when
//! present, each with [`LEEWAY_S`] of clock skew allowed between the issuer
//! and this server. Other claims are ignored. The signature is checked before the claims are read and
//! compared in constant time by `hmac`'s `verify_slice`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// Clock skew tolerated on `exp` and `nbf` (the cap lives in `limits`).
pub use crate::limits::JWT_LEEWAY_S as LEEWAY_S;

/// Why a token was refused (all answered 401 before the upgrade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No token in `?token=` nor `Authorization: Bearer`.
    Missing,
    /// Not three base64url parts, bad JSON, or `alg` other than HS256.
    Malformed(&'static str),
    /// Signature does not match the secret.
    BadSignature,
    /// `exp` is in the past (by more than the leeway).
    Expired,
    /// `nbf` is in the future (by more than the leeway).
    NotYetValid,
    /// No string `sub` claim.
    NoSubject,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Missing => f.write_str("no token"),
            AuthError::Malformed(why) => write!(f, "malformed token: {why}"),
            AuthError::BadSignature => f.write_str("bad token signature"),
            AuthError::Expired => f.write_str("token expired"),
            AuthError::NotYetValid => f.write_str("token not valid yet (nbf)"),
            AuthError::NoSubject => f.write_str("token has no sub"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Verifies an HS256 `token` with `secret` at `now_unix` seconds and returns its `sub`.
///
/// A token without `exp` does not expire; one whose `exp` is at or before
/// `now_unix - LEEWAY_S` is `Expired` (RFC 7519: "on or after which the JWT
/// MUST NOT be accepted"). One whose `nbf` is after `now_unix + LEEWAY_S` is
/// `NotYetValid` ("before which the JWT MUST NOT be accepted").
pub fn verify(token: &str, secret: &[u8], now_unix: u64) -> Result<String, AuthError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed("not three dot-separated parts"));
    };

    let header = decode_part(header_b64, "header is not base64url")?;
    let header: Map<String, Value> = serde_json::from_slice(&header)
        .map_err(|_| AuthError::Malformed("header is not a JSON object"))?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(AuthError::Malformed("alg is not HS256"));
    }

    let signature = decode_part(sig_b64, "signature is not base64url")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .map_err(|_| AuthError::Malformed("unusable secret"))?;
    // The signing input is the encoded header and claims exactly as sent.
    mac.update(&token.as_bytes()[..header_b64.len() + 1 + claims_b64.len()]);
    mac.verify_slice(&signature)
        .map_err(|_| AuthError::BadSignature)?;

    let claims = decode_part(claims_b64, "claims are not base64url")?;
    let mut claims: Map<String, Value> = serde_json::from_slice(&claims)
        .map_err(|_| AuthError::Malformed("claims are not a JSON object"))?;
    let now = now_unix as f64;
    let leeway = LEEWAY_S as f64;
    if let Some(exp) = time_claim(&claims, "exp", "exp is not a number")?
        && exp <= now - leeway
    {
        return Err(AuthError::Expired);
    }
    if let Some(nbf) = time_claim(&claims, "nbf", "nbf is not a number")?
        && nbf > now + leeway
    {
        return Err(AuthError::NotYetValid);
    }
    match claims.remove("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => Ok(sub),
        _ => Err(AuthError::NoSubject),
    }
}

/// A NumericDate claim: absent or null is `None`; anything but a number is malformed.
fn time_claim(
    claims: &Map<String, Value>,
    name: &str,
    why: &'static str,
) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        // NaN cannot come out of JSON; a huge value saturates, which is fine for a comparison.
        Some(Value::Number(n)) => Ok(Some(n.as_f64().unwrap_or(f64::NEG_INFINITY))),
        Some(_) => Err(AuthError::Malformed(why)),
    }
}

fn decode_part(part: &str, why: &'static str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"loopcast-test-secret";
    const NOW: u64 = 1_700_000_000;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn sign(header: &str, claims: &str, secret: &[u8]) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    }

    fn hs256(claims: &str) -> String {
        sign(r#"{"alg":"HS256","typ":"JWT"}"#, claims, SECRET)
    }

    #[test]
    fn known_good_vector_from_python_hmac() {
        // python3: hmac.new(b'loopcast-test-secret', h + b'.' + p, hashlib.sha256), base64url without '='
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
                     eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.\
                     Q-oti10qAi3_1xiQOv6zzo3ghLcjmO9jzqFdbrUBUj0";
        assert_eq!(verify(token, SECRET, NOW), Ok("alice".to_string()));
        assert_eq!(
            verify(token, b"another secret", NOW),
            Err(AuthError::BadSignature)
        );
        // Our own signer agrees with the independent one.
        assert_eq!(hs256(r#"{"sub":"alice","exp":4102444800}"#), token);
    }

    #[test]
    fn valid_token_gives_sub() {
        let token = hs256(&format!(r#"{{"sub":"bob","exp":{}}}"#, NOW + 60));
        assert_eq!(verify(&token, SECRET, NOW), Ok("bob".to_string()));
        let no_exp = hs256(r#"{"sub":"carol","iat":1}"#);
        assert_eq!(verify(&no_exp, SECRET, NOW), Ok("carol".to_string()));
    }

    #[test]
    fn bad_signature_is_refused() {
        let token = sign(r#"{"alg":"HS256"}"#, r#"{"sub":"bob"}"#, b"wrong");
        assert_eq!(verify(&token, SECRET, NOW), Err(AuthError::BadSignature));
        // Tampered claims with the original signature.
        let good = hs256(r#"{"sub":"bob"}"#);
        let sig = good.rsplit('.').next().unwrap();
        let forged = format!(
            "{}.{}.{sig}",
            b64(br#"{"alg":"HS256"}"#),
            b64(br#"{"sub":"admin"}"#)
        );
        assert_eq!(verify(&forged, SECRET, NOW), Err(AuthError::BadSignature));
        let truncated = &good[..good.len() - 3];
        assert_eq!(verify(truncated, SECRET, NOW), Err(AuthError::BadSignature));
    }

    #[test]
    fn expired_token_is_refused() {
        let past = hs256(&format!(r#"{{"sub":"bob","exp":{}}}"#, NOW - LEEWAY_S - 1));
        assert_eq!(verify(&past, SECRET, NOW), Err(AuthError::Expired));
        let edge = hs256(&format!(r#"{{"sub":"bob","exp":{}}}"#, NOW - LEEWAY_S));
        assert_eq!(verify(&edge, SECRET, NOW), Err(AuthError::Expired));
        // Within the leeway a just-expired token still passes (issuer clock ahead).
        let skewed = hs256(&format!(r#"{{"sub":"bob","exp":{}}}"#, NOW - LEEWAY_S + 1));
        assert_eq!(verify(&skewed, SECRET, NOW), Ok("bob".to_string()));
        let bad = hs256(r#"{"sub":"bob","exp":"tomorrow"}"#);
        assert!(matches!(
            verify(&bad, SECRET, NOW),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn not_before_is_enforced_with_leeway() {
        let future = hs256(&format!(r#"{{"sub":"bob","nbf":{}}}"#, NOW + LEEWAY_S + 1));
        assert_eq!(verify(&future, SECRET, NOW), Err(AuthError::NotYetValid));
        let far = hs256(r#"{"sub":"bob","nbf":4102444800,"exp":4102448400}"#);
        assert_eq!(verify(&far, SECRET, NOW), Err(AuthError::NotYetValid));
        let skewed = hs256(&format!(r#"{{"sub":"bob","nbf":{}}}"#, NOW + LEEWAY_S));
        assert_eq!(verify(&skewed, SECRET, NOW), Ok("bob".to_string()));
        let past = hs256(&format!(r#"{{"sub":"bob","nbf":{}}}"#, NOW - 600));
        assert_eq!(verify(&past, SECRET, NOW), Ok("bob".to_string()));
        let bad = hs256(r#"{"sub":"bob","nbf":"now"}"#);
        assert!(matches!(
            verify(&bad, SECRET, NOW),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn alg_none_and_others_are_refused() {
        let claims = b64(br#"{"sub":"admin"}"#);
        let none = format!("{}.{claims}.", b64(br#"{"alg":"none"}"#));
        assert!(matches!(
            verify(&none, SECRET, NOW),
            Err(AuthError::Malformed(_))
        ));
        let hs512 = sign(r#"{"alg":"HS512"}"#, r#"{"sub":"bob"}"#, SECRET);
        assert!(matches!(
            verify(&hs512, SECRET, NOW),
            Err(AuthError::Malformed(_))
        ));
        let no_alg = sign(r#"{"typ":"JWT"}"#, r#"{"sub":"bob"}"#, SECRET);
        assert!(matches!(
            verify(&no_alg, SECRET, NOW),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(verify("", SECRET, NOW), Err(AuthError::Missing));
        for bad in [
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.e30.e30",
            "e30.e30.***",
            "bm90IGpzb24.e30.e30",
        ] {
            assert!(
                matches!(verify(bad, SECRET, NOW), Err(AuthError::Malformed(_))),
                "{bad}"
            );
        }
        // Correctly signed but the claims are not an object.
        let not_object = hs256("[1,2]");
        assert!(matches!(
            verify(&not_object, SECRET, NOW),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn missing_or_non_string_sub_is_refused() {
        for claims in [r#"{"exp":4102444800}"#, r#"{"sub":42}"#, r#"{"sub":""}"#] {
            assert_eq!(
                verify(&hs256(claims), SECRET, NOW),
                Err(AuthError::NoSubject),
                "{claims}"
            );
        }
    }
}
