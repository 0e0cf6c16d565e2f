//! `ValueDigest`: a configuration value as its SHA-256, so that two values can be compared
//! (Heroku's config var against the ECS task definition's) without either being kept. It has
//! no way to show itself: not in `Debug`, not in JSON.

use sha2::{Digest, Sha256};

/// The SHA-256 of a value. Equal digests mean equal values; nothing else can be learnt from
/// one here, because it never prints (a digest of a short secret could be guessed).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ValueDigest([u8; 32]);

impl ValueDigest {
    /// Hashes `value`; the caller drops the value right after.
    pub fn of(value: &str) -> Self {
        Self(Sha256::digest(value.as_bytes()).into())
    }
}

impl std::fmt::Debug for ValueDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueDigest([hidden])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_give_equal_digests_that_never_print() {
        assert_eq!(ValueDigest::of("openai"), ValueDigest::of("openai"));
        assert_ne!(ValueDigest::of("openai"), ValueDigest::of("anthropic"));
        let shown = format!("{:?}", ValueDigest::of("s3cret"));
        assert_eq!(shown, "ValueDigest([hidden])");
    }
}
