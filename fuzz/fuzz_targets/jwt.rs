//! Fuzz target: the HS256 JWT verifier, on raw tokens and on correctly signed
//! tokens with input-chosen header and claims (so the claim checks are reached).
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use loopcast::auth;
use sha2::Sha256;

const SECRET: &[u8] = b"fuzz-secret";
const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        // Header and claims split at the first 0xff (header defaults to HS256).
        let (header, claims) = match rest.iter().position(|&b| b == 0xff) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (&br#"{"alg":"HS256"}"#[..], rest),
        };
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let now = NOW.wrapping_add(u64::from(mode >> 1) * 1_000_000);
    if let Ok(sub) = auth::verify(&token, SECRET, now) {
        assert!(!sub.is_empty(), "empty sub accepted");
        assert_eq!(
            auth::verify(&token, b"another secret", now),
            Err(auth::AuthError::BadSignature),
            "accepted under two secrets"
        );
    }
});
