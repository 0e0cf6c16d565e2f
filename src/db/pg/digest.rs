//! A dump's size and SHA-256, read off the async threads.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::ports::data::DataError;

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// `sha256` and size of a file, off the async threads.
pub async fn digest(path: &Path) -> Result<(u64, String), DataError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let size = std::fs::metadata(&path)?.len();
        Ok::<_, std::io::Error>((size, sha256_file(&path)?))
    })
    .await
    .map_err(|e| DataError::Tool(e.to_string()))?
    .map_err(|e| DataError::Tool(format!("cannot read the dump: {e}")))
}
