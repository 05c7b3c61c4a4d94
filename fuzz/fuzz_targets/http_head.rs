//! Fuzz target: the HTTP request-head parser, then the route policy on what it parsed.
//!
//! Checks beyond "no panic": a complete head is at most the input, never past
//! the size limit, and parses the same from exactly its own bytes; one byte
//! fewer is never complete.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loopcast::config::Config;
use loopcast::http::{self, MAX_HEAD};
use loopcast::policy;

fuzz_target!(|data: &[u8]| {
    let Ok(Some((req, n))) = http::parse_request(data, MAX_HEAD) else {
        return;
    };
    assert!(
        n <= data.len() && n <= MAX_HEAD,
        "head length {n} of {}",
        data.len()
    );
    let again = http::parse_request(&data[..n], MAX_HEAD);
    assert_eq!(
        again,
        Ok(Some((req.clone(), n))),
        "the head alone parses the same"
    );
    assert!(
        !matches!(http::parse_request(&data[..n - 1], MAX_HEAD), Ok(Some(_))),
        "complete one byte early"
    );
    for name in ["user", "token"] {
        if let Some(Ok(value)) = http::query_value(&req.query, name) {
            let _ = policy::check_user(&value);
        }
    }
    let config = Config::default();
    let listen = config.listen;
    let _ = policy::host_allowed(&config.allowed_hosts, listen, req.host.as_deref());
    let _ = policy::origin_allowed(&config, listen, &req);
    let _ = policy::publish_check(&config, listen, &req);
    let _ = policy::bearer(&req);
});
