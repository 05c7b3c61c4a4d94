//! The files compiled into the binary (page, client library, its types) and their HTTP caching.
//!
//! Each asset carries a strong `ETag` computed at compile time from its bytes,
//! so a browser revalidates with `If-None-Match` and gets a bodyless `304`
//! when nothing changed, and a new build is picked up on the next load.

/// One file served as is.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    /// The request path it is served at.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// FNV-1a of `body`, the `ETag` value (written as quoted hex).
    pub hash: u64,
    /// Whether other origins may fetch it (the client library may be imported
    /// by pages served from elsewhere; the page itself is only for its own origin).
    pub shared: bool,
}

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const fn asset(
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    shared: bool,
) -> Asset {
    Asset {
        path,
        content_type,
        body,
        hash: fnv1a(body),
        shared,
    }
}

const PAGE: &[u8] = include_bytes!("../assets/index.html");

/// Every asset; `/` and `/index.html` are the page.
pub static ASSETS: [Asset; 4] = [
    asset("/", "text/html; charset=utf-8", PAGE, false),
    asset("/index.html", "text/html; charset=utf-8", PAGE, false),
    asset(
        "/loopcast.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/loopcast.js"),
        true,
    ),
    asset(
        "/loopcast.d.ts",
        "application/typescript; charset=utf-8",
        include_bytes!("../assets/loopcast.d.ts"),
        true,
    ),
];

/// The asset served at `path`.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

impl Asset {
    /// The `ETag` header value, quoted.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }

    /// Whether an `If-None-Match` value names this version (or is `*`), so
    /// the answer is `304` (RFC 9110 section 13.1.2: weak comparison).
    pub fn matches(&self, if_none_match: Option<&str>) -> bool {
        let Some(list) = if_none_match else {
            return false;
        };
        let etag = self.etag();
        list.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_follow_content_and_validate() {
        let js = find("/loopcast.js").expect("library is served");
        assert_eq!(find("/").unwrap().hash, find("/index.html").unwrap().hash);
        assert_ne!(js.hash, find("/").unwrap().hash);
        let tag = js.etag();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 18);
        assert!(js.matches(Some(&tag)));
        assert!(js.matches(Some(&format!("\"x\", W/{tag}"))));
        assert!(js.matches(Some("*")));
        assert!(!js.matches(Some("\"0000000000000000\"")));
        assert!(!js.matches(None));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert!(find("/nope.js").is_none());
    }

    #[test]
    fn page_and_library_stay_small() {
        // The promise to users: page + client library under 48 KB, no build step.
        let page = find("/").unwrap().body.len();
        let js = find("/loopcast.js").unwrap().body.len();
        assert!(page + js < 48_000, "page {page} + library {js} bytes");
    }
}
