//! How values are stored in L2: postcard (compact, schema-less binary), zstd-compressed when a
//! value is larger than the threshold and compression actually shrinks it. One header byte
//! says which, so the threshold can change without invalidating what Redis holds.

use serde::Serialize;
use serde::de::DeserializeOwned;

const RAW: u8 = 0;
const ZSTD: u8 = 1;
/// Fast level: L2 values are small and written on the request path.
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode a cache value: {0}")]
    Encode(postcard::Error),
    #[error("cannot decode a cache value: {0}")]
    Decode(String),
}

pub fn encode<V: Serialize>(value: &V, compress_above: usize) -> Result<Vec<u8>, CodecError> {
    let mut raw = vec![RAW];
    let raw = postcard::to_extend(value, std::mem::take(&mut raw)).map_err(CodecError::Encode)?;
    if raw.len() > compress_above + 1
        && let Ok(compressed) = zstd::bulk::compress(&raw[1..], ZSTD_LEVEL)
        && compressed.len() + 1 < raw.len()
    {
        let mut framed = Vec::with_capacity(compressed.len() + 1);
        framed.push(ZSTD);
        framed.extend_from_slice(&compressed);
        return Ok(framed);
    }
    Ok(raw)
}

/// Upper bound on a decompressed value, so a corrupt or hostile L2 entry cannot exhaust memory.
const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

pub fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V, CodecError> {
    match bytes.split_first() {
        Some((&RAW, body)) => {
            postcard::from_bytes(body).map_err(|e| CodecError::Decode(e.to_string()))
        }
        Some((&ZSTD, body)) => {
            let raw = zstd::bulk::decompress(body, MAX_DECODED_BYTES)
                .map_err(|e| CodecError::Decode(e.to_string()))?;
            postcard::from_bytes(&raw).map_err(|e| CodecError::Decode(e.to_string()))
        }
        Some((other, _)) => Err(CodecError::Decode(format!("unknown format byte {other}"))),
        None => Err(CodecError::Decode("empty value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_stay_raw_and_large_repetitive_ones_compress() {
        let small = vec![1u32, 2, 3];
        let bytes = encode(&small, 1024).expect("encodes");
        assert_eq!(bytes[0], RAW);
        assert_eq!(decode::<Vec<u32>>(&bytes).expect("decodes"), small);

        let large = "the same sentence again. ".repeat(200);
        let bytes = encode(&large, 1024).expect("encodes");
        assert_eq!(bytes[0], ZSTD);
        assert!(bytes.len() < large.len() / 4);
        assert_eq!(decode::<String>(&bytes).expect("decodes"), large);
    }

    #[test]
    fn incompressible_values_are_stored_raw() {
        // Pseudo-random floats barely compress: the raw form is kept.
        let floats: Vec<f32> = (0..400u32)
            .map(|i| ((i.wrapping_mul(2654435761)) as f32).sin())
            .collect();
        let bytes = encode(&floats, 1024).expect("encodes");
        assert_eq!(decode::<Vec<f32>>(&bytes).expect("decodes"), floats);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<String>(&[]).is_err());
        assert!(decode::<String>(&[7, 1, 2]).is_err());
        assert!(decode::<String>(&[ZSTD, 1, 2, 3]).is_err());
        assert!(decode::<Vec<f32>>(&[RAW, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
