//! Loading the key that seals TOTP secrets: from `LATCHKEY_SECRET_KEY`, or the
//! key file in the data dir, made on first start with mode 0600.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use latchkey_core::server_key::{bind_key, store_has_key, KeyCheckError};
use latchkey_core::{SecretBox, Store};

/// Loads the key and checks it against the store. Never makes a new key for a
/// store that already has one: that would orphan every sealed secret.
pub async fn load(store: &dyn Store, key_file: &Path) -> anyhow::Result<SecretBox> {
    let key = match std::env::var("LATCHKEY_SECRET_KEY") {
        Ok(text) => SecretBox::from_base64(&text).context("LATCHKEY_SECRET_KEY")?,
        Err(_) if key_file.exists() => read(key_file)?,
        Err(_) => {
            if store_has_key(store).await? {
                bail!(
                    "the secret key file {} is missing, but this store was created with a key; \
                     restore the key file or set LATCHKEY_SECRET_KEY",
                    key_file.display()
                );
            }
            create(key_file)?
        }
    };
    bind_key(store, &key).await.map_err(|e| match e {
        KeyCheckError::Mismatch => anyhow::anyhow!(
            "the secret key ({}) does not match the key this store was created with",
            if std::env::var_os("LATCHKEY_SECRET_KEY").is_some() {
                "LATCHKEY_SECRET_KEY".to_string()
            } else {
                key_file.display().to_string()
            }
        ),
        KeyCheckError::Store(e) => anyhow::Error::new(e).context("checking the secret key"),
    })?;
    Ok(key)
}

fn read(path: &Path) -> anyhow::Result<SecretBox> {
    #[cfg(unix)]
    if let Ok(meta) = fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the secret key file is readable by others; chmod 600 it");
        }
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read the secret key file {}", path.display()))?;
    SecretBox::from_base64(&text).with_context(|| format!("secret key file {}", path.display()))
}

/// Writes a new key to a private temporary file and links it into place, so
/// the key file is never seen half-written, and two processes starting at
/// once on one data dir end up with the same key (the loser reads the winner's).
fn create(path: &Path) -> anyhow::Result<SecretBox> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::startup::create_private_dir(dir)?;
    }
    let (key, encoded) = SecretBox::generate();
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        writeln!(file, "{encoded}")?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&temporary);
        return Err(e).with_context(|| format!("cannot write the secret key file {}", path.display()));
    }
    let linked = fs::hard_link(&temporary, path);
    let _ = fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new secret key");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(e).with_context(|| format!("cannot create the secret key file {}", path.display())),
    }
}
