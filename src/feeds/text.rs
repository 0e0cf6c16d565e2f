//! Turning a feed body into text: byte-order marks, UTF-16 and strict UTF-8, shared by every parser.
//!
//! AWS's `currentevents` answers UTF-16 with a BOM while everyone else answers UTF-8, sometimes
//! with a BOM; a body that is neither must be reported as malformed rather than half-read.

use crate::config::FeedKind;

use super::FeedError;

/// Decodes `body` to text: a UTF-8, UTF-16LE or UTF-16BE byte-order mark decides the encoding;
/// without one, UTF-16 is recognised from its zero bytes (every payload we read starts with
/// an ASCII character) and anything else must be valid UTF-8.
pub fn decode_text(body: &[u8], kind: FeedKind) -> Result<String, FeedError> {
    let malformed = |detail: String| FeedError::Malformed {
        kind: kind.as_str(),
        detail,
    };
    let (encoding, rest) = match body {
        [0xEF, 0xBB, 0xBF, rest @ ..] => (Encoding::Utf8, rest),
        [0xFF, 0xFE, rest @ ..] => (Encoding::Utf16Le, rest),
        [0xFE, 0xFF, rest @ ..] => (Encoding::Utf16Be, rest),
        // RFC 4627 §3's detection: ASCII first characters make the zero byte's side tell the order.
        [a, 0, ..] if *a != 0 => (Encoding::Utf16Le, body),
        [0, b, ..] if *b != 0 => (Encoding::Utf16Be, body),
        _ => (Encoding::Utf8, body),
    };
    let text = match encoding {
        Encoding::Utf8 => std::str::from_utf8(rest)
            .map(str::to_owned)
            .map_err(|err| malformed(format!("invalid UTF-8: {err}")))?,
        Encoding::Utf16Le => utf16(rest, u16::from_le_bytes).map_err(malformed)?,
        Encoding::Utf16Be => utf16(rest, u16::from_be_bytes).map_err(malformed)?,
    };
    if text.trim().is_empty() {
        return Err(malformed("empty body".to_owned()));
    }
    Ok(text)
}

enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err(format!(
            "invalid UTF-16: odd length ({} bytes)",
            bytes.len()
        ));
    }
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|err| format!("invalid UTF-16: {err}"))
}

/// Parses JSON text into `T`, naming the problem the way an operator can act on: "not JSON"
/// (an HTML error page, a truncated body) versus "JSON, but not the shape we expect".
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    text: &str,
    kind: FeedKind,
    expected: &str,
) -> Result<T, FeedError> {
    let malformed = |detail: String| FeedError::Malformed {
        kind: kind.as_str(),
        detail,
    };
    serde_json::from_str(text).map_err(|err| {
        use serde_json::error::Category;
        match err.classify() {
            Category::Data => malformed(format!("JSON is not {expected}: {err}")),
            Category::Eof => malformed(format!("truncated JSON: {err}")),
            Category::Syntax | Category::Io if text.trim_start().starts_with('<') => {
                malformed(format!("got HTML or XML instead of JSON ({err})"))
            }
            Category::Syntax | Category::Io => malformed(format!("not JSON: {err}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le_with_bom(s: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        out.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn plain_utf8_and_utf8_with_bom_decode() {
        assert_eq!(decode_text(b"[1]", FeedKind::AwsHealth).unwrap(), "[1]");
        assert_eq!(
            decode_text(b"\xEF\xBB\xBF[1]", FeedKind::AwsHealth).unwrap(),
            "[1]"
        );
    }

    #[test]
    fn utf16_with_and_without_bom_decodes() {
        let text = "[{\"summary\": \"Störung — ☁\"}]";
        assert_eq!(
            decode_text(&utf16le_with_bom(text), FeedKind::AwsHealth).unwrap(),
            text
        );
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode_text(&be, FeedKind::AwsHealth).unwrap(), text);
        let bare: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode_text(&bare, FeedKind::AwsHealth).unwrap(), text);
    }

    #[test]
    fn invalid_bytes_are_malformed_not_replaced() {
        let err = decode_text(b"{\"a\": \"\xC3\x28\"}", FeedKind::Statuspage).unwrap_err();
        assert!(
            matches!(&err, FeedError::Malformed { kind: "statuspage", detail } if detail.starts_with("invalid UTF-8")),
            "{err:?}"
        );
        let odd = [0xFF, 0xFE, b'[', 0, b']'];
        assert!(matches!(
            decode_text(&odd, FeedKind::AwsHealth),
            Err(FeedError::Malformed { .. })
        ));
        // An unpaired high surrogate.
        let lone = [0xFF, 0xFE, 0x00, 0xD8, b'x', 0];
        assert!(matches!(
            decode_text(&lone, FeedKind::AwsHealth),
            Err(FeedError::Malformed { .. })
        ));
    }

    #[test]
    fn empty_bodies_are_malformed() {
        for body in [&b""[..], b"  \n", b"\xEF\xBB\xBF", b"\xFF\xFE"] {
            assert!(
                matches!(decode_text(body, FeedKind::Heroku), Err(FeedError::Malformed { ref detail, .. }) if detail == "empty body"),
                "{body:?}"
            );
        }
    }

    #[test]
    fn json_errors_say_what_was_wrong() {
        #[derive(serde::Deserialize, Debug)]
        #[expect(dead_code, reason = "only the shape matters here")]
        struct Shape {
            status: String,
        }
        let detail = |text: &str| match json::<Shape>(text, FeedKind::Heroku, "a shape") {
            Err(FeedError::Malformed { detail, .. }) => detail,
            other => panic!("{other:?}"),
        };
        assert!(detail("<!DOCTYPE html><html>").starts_with("got HTML"));
        assert!(detail("{\"status\": \"gr").starts_with("truncated JSON"));
        assert!(detail("{\"status\": 1}").starts_with("JSON is not a shape"));
        assert!(detail("nope").starts_with("not JSON"));
    }
}
