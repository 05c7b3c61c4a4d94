//! Tests of action parsing and event writing, from literal frames.

use super::*;

fn ok(text: &str) -> Request<'_> {
    parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.problem))
}

fn code(text: &str) -> ErrorCode {
    match parse(text) {
        Ok(r) => panic!("{text} parsed as {r:?}"),
        Err(e) => e.problem.code(),
    }
}

#[test]
fn seed_style_publish_parses_as_written() {
    let r = ok(r#"{"action":"publish","topic":"world","message":"Hello world!"}"#);
    match r.action {
        Action::Publish { room, message } => {
            assert_eq!(room, "world");
            assert_eq!(message.get(), r#""Hello world!""#);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.reference, None);
}

#[test]
fn aliases_parse() {
    let r = ok(r#"{"action":"send-message","target":"a.b","message_body":{"x": [1, 2]}}"#);
    match r.action {
        Action::Publish { room, message } => {
            assert_eq!(room, "a.b");
            // Kept byte for byte, whitespace included.
            assert_eq!(message.get(), r#"{"x": [1, 2]}"#);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ok(r#"{"action":"join-room","room":"x"}"#).action,
        Action::Join { .. }
    ));
    assert!(matches!(
        ok(r#"{"action":"leave-room","room":"x"}"#).action,
        Action::Leave { .. }
    ));
}

#[test]
fn refs_are_kept_raw() {
    assert_eq!(ok(r#"{"action":"rooms","ref":7}"#).reference, Some("7"));
    assert_eq!(
        ok(r#"{"action":"rooms","ref":"a\"b"}"#).reference,
        Some(r#""a\"b""#)
    );
    assert_eq!(
        ok(r#"{"action":"rooms","ref":-1.5}"#).reference,
        Some("-1.5")
    );
    assert_eq!(ok(r#"{"action":"rooms","ref":null}"#).reference, None);
    assert_eq!(code(r#"{"action":"rooms","ref":{}}"#), ErrorCode::BadField);
    // A ref survives a later problem.
    let e = parse(r#"{"action":"join","ref":3}"#).unwrap_err();
    assert_eq!(e.reference, Some("3"));
    assert_eq!(e.problem.code(), ErrorCode::MissingField);
}

#[test]
fn message_may_be_any_json_even_null() {
    match ok(r#"{"action":"broadcast","message":null}"#).action {
        Action::Broadcast { message } => assert_eq!(message.get(), "null"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn escaped_strings_are_decoded() {
    match ok(r#"{"action":"join","room":"\u0061b","password":"p\"w"}"#).action {
        Action::Join { room, password, .. } => {
            assert_eq!(room, "ab");
            assert_eq!(password.as_deref(), Some("p\"w"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn problems_have_their_codes() {
    assert_eq!(code("{"), ErrorCode::BadJson);
    assert_eq!(code("hello"), ErrorCode::BadJson);
    assert_eq!(code(""), ErrorCode::BadJson);
    assert_eq!(code(r#"{"action":"rooms"} x"#), ErrorCode::BadJson);
    assert_eq!(
        code(r#"{"room":"a","room":"b","action":"join"}"#),
        ErrorCode::BadJson
    );
    assert_eq!(code("[1,2]"), ErrorCode::MissingField);
    assert_eq!(code("42"), ErrorCode::MissingField);
    assert_eq!(code(r#""join""#), ErrorCode::MissingField);
    assert_eq!(code("{}"), ErrorCode::MissingField);
    assert_eq!(code(r#"{"action":null}"#), ErrorCode::MissingField);
    assert_eq!(code(r#"{"action":"join"}"#), ErrorCode::MissingField);
    assert_eq!(code(r#"{"action":"broadcast"}"#), ErrorCode::MissingField);
    assert_eq!(
        code(r#"{"action":"notify","message":1}"#),
        ErrorCode::MissingField
    );
    assert_eq!(
        code(r#"{"action":"typing","room":"a"}"#),
        ErrorCode::MissingField
    );
    assert_eq!(code(r#"{"action":"fly"}"#), ErrorCode::UnknownAction);
    assert_eq!(code(r#"{"action":5}"#), ErrorCode::BadField);
    assert_eq!(code(r#"{"action":"join","room":5}"#), ErrorCode::BadField);
    assert_eq!(
        code(r#"{"action":"join","room":"a","since":-1}"#),
        ErrorCode::BadField
    );
    assert_eq!(
        code(r#"{"action":"typing","room":"a","value":1}"#),
        ErrorCode::BadField
    );
    assert_eq!(
        code(r#"{"action":"create","room":"a","max_members":0}"#),
        ErrorCode::BadField
    );
    assert_eq!(
        code(r#"{"action":"create","room":"a","history":5000}"#),
        ErrorCode::BadField
    );
    assert_eq!(
        code(r#"{"action":"notify","user":"\ud800","message":1}"#),
        ErrorCode::BadField
    );
}

#[test]
fn room_names_follow_the_rules() {
    for good in ["a", "lobby", "A-Z_0.9:x", &"x".repeat(64)] {
        assert!(valid_room_name(good), "{good}");
    }
    for bad in ["", " ", "a b", "é", "a/b", &"x".repeat(65)] {
        assert!(!valid_room_name(bad), "{bad}");
    }
    assert_eq!(
        code(r#"{"action":"join","room":""}"#),
        ErrorCode::BadRoomName
    );
    assert_eq!(
        code(r#"{"action":"publish","topic":"a b","message":1}"#),
        ErrorCode::BadRoomName
    );
}

#[test]
fn escaping_matches_serde_json() {
    for s in [
        "plain",
        "q\"uote",
        "back\\slash",
        "nl\n\r\t",
        "\u{1}\u{1f}",
        "é ☃ 𝄞",
        "",
    ] {
        let mut buf = String::new();
        push_json_str(&mut buf, s);
        assert_eq!(buf, serde_json::to_string(s).unwrap());
        assert_eq!(serde_json::from_str::<String>(&buf).unwrap(), s);
    }
}

#[test]
fn events_are_valid_json_in_the_documented_shape() {
    let mut buf = String::new();
    write_message(
        &mut buf,
        r#""alice""#,
        Scope::Room {
            room: "lobby",
            seq: 42,
        },
        1732260000123,
        "[1]",
    );
    assert_eq!(
        buf,
        r#"{"event":"message","from":"alice","room":"lobby","seq":42,"ts":1732260000123,"message":[1]}"#
    );
    buf.clear();
    write_message(&mut buf, r#""alice""#, Scope::User { to: "bob" }, 5, "{}");
    assert_eq!(
        buf,
        r#"{"event":"message","from":"alice","to":"bob","ts":5,"message":{}}"#
    );
    buf.clear();
    write_error(
        &mut buf,
        ErrorCode::RoomFull,
        format_args!("room {} is \"full\"", "x"),
        Some("7"),
    );
    assert_eq!(
        buf,
        r#"{"event":"error","code":"room_full","message":"room x is \"full\"","ref":7}"#
    );
    buf.clear();
    let limits = Limits {
        max_message: 1024,
        rate: 2,
        burst: 4,
    };
    write_welcome(&mut buf, "c1", r#""a\"b""#, limits);
    let v: serde_json::Value = serde_json::from_str(&buf).unwrap();
    assert_eq!(v["limits"]["max_message"], 1024);
    assert_eq!(v["limits"]["rate"], 2);
    assert_eq!(v["limits"]["burst"], 4);
    assert_eq!(v["user"], "a\"b");
    assert_eq!(v["server"], crate::VERSION);
}

#[test]
fn unknown_action_message_is_bounded() {
    let long = format!(r#"{{"action":"{}"}}"#, "é".repeat(100));
    let e = parse(&long).unwrap_err();
    assert!(e.problem.to_string().len() < 100);
}
