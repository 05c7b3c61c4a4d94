//! User-name rules: printable, no invisible tricks, and nothing that reads as the reserved `server`.
//!
//! `"from":"server"` marks messages from the publish API, so a user must not be
//! able to look like it. Rather than rewriting names (a user would see a
//! different name than they chose), a name is refused when:
//! - it is empty, longer than 64 characters, or has a control character;
//! - it starts or ends with whitespace (`" server"`, `"server "`);
//! - it holds a bidirectional control (U+202A-U+202E, U+2066-U+2069,
//!   U+200E/U+200F, U+061C): they reorder how the rest displays;
//! - its *skeleton* is `server`: invisible characters (zero-width space and
//!   joiners, word joiner, BOM, soft hyphen, ...) and whitespace removed, case
//!   folded, full-width and mathematical letters mapped to ASCII, and Cyrillic
//!   or Greek look-alikes of s/e/r/v mapped to their Latin twin.

/// Why a user name was refused; each answers 400 with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserError {
    /// `?user=` percent-decodes to bytes that are not UTF-8.
    NotUtf8,
    /// Empty, over 64 characters, or a control character.
    NotPrintable,
    /// Leading or trailing whitespace.
    Padded,
    /// A bidirectional control character.
    Bidi,
    /// Reads as the reserved name `server`.
    Reserved,
}

impl UserError {
    /// The 400 body.
    pub fn message(self) -> &'static [u8] {
        match self {
            UserError::NotUtf8 => b"user is not valid UTF-8\n",
            UserError::NotPrintable => b"user must be 1-64 printable characters\n",
            UserError::Padded => b"user must not start or end with a space\n",
            UserError::Bidi => b"user must not contain bidirectional control characters\n",
            UserError::Reserved => b"user must not be or look like \"server\"\n",
        }
    }
}

/// Checks a user name from `?user=` or a token's `sub`.
pub fn check_user(name: &str) -> Result<(), UserError> {
    if name.is_empty()
        || name.chars().count() > crate::limits::MAX_USER_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(UserError::NotPrintable);
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(UserError::Padded);
    }
    if name.chars().any(is_bidi_control) {
        return Err(UserError::Bidi);
    }
    if skeleton_is(name, "server") {
        return Err(UserError::Reserved);
    }
    Ok(())
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that render as nothing (or nearly): dropped from the skeleton.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
}

/// One character of the skeleton: ASCII lower case where a look-alike is known.
fn fold(c: char) -> char {
    let c = match c {
        // Full-width ASCII.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        // Mathematical alphanumeric letters: 52-letter runs of A-Z then a-z.
        '\u{1D400}'..='\u{1D6A3}' => {
            let i = (c as u32 - 0x1D400) % 52;
            char::from(if i < 26 {
                b'a' + i as u8
            } else {
                b'a' + (i - 26) as u8
            })
        }
        _ => c,
    };
    let c = c.to_lowercase().next().unwrap_or(c);
    match c {
        'ѕ' | 'ꜱ' | 'ś' | 'ŝ' | 'ş' | 'š' | 'ș' | 'ʂ' => 's',
        'е' | 'ё' | 'є' | 'ҽ' | 'ℯ' | 'ε' | 'é' | 'è' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => {
            'e'
        }
        'г' | 'ᴦ' | 'ⲅ' | 'ŕ' | 'ř' | 'ŗ' | 'ɾ' | 'ʀ' => 'r',
        'ѵ' | 'ν' | 'ᴠ' | 'ⅴ' | 'ʋ' | 'ѷ' => 'v',
        c => c,
    }
}

fn skeleton_is(name: &str, reserved: &str) -> bool {
    let mut skeleton = name.chars().filter(|&c| !is_invisible(c)).map(fold);
    let mut want = reserved.chars();
    loop {
        match (skeleton.next(), want.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}
