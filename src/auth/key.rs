//! The API key format: `srk_` and 43 characters of base64url (256 random bits).
//!
//! Stored as a SHA-256 hex digest. A slow password hash would buy nothing: with 256 bits of
//! randomness there is no dictionary to run, and a fast hash keeps the per-request check cheap.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "srk_";
/// Characters of the key shown by `keys list` (the `srk_` marker and 8 more).
const SHOWN: usize = 12;

/// A new random key, from the operating system's CSPRNG.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The digest stored for `key`, and looked up when it is presented.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The part of the key that `keys list` shows and `keys revoke` accepts.
pub fn shown_prefix(key: &str) -> &str {
    key.get(..SHOWN).unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed_stably() {
        let a = generate().expect("OS randomness");
        let b = generate().expect("OS randomness");
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43, "{a}");
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(shown_prefix(&a).len(), SHOWN);
    }
}
