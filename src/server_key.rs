//! Loading the key that seals TOTP secrets: from `LATCHKEY_SECRET_KEY`, or the
//! key file in the data dir, made on first start with mode 0600.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use latchkey_core::server_key::{bind_key, key_the_log, store_has_key, KeyCheckError, LogFormat};
use latchkey_core::store::{Resealed, ServingProcess};
use latchkey_core::{SecretBox, Store};

use crate::config::Config;

/// Loads the key and checks it against the store, and says whether the
/// security log is keyed yet; writes nothing to a store that has a key.
/// Never makes a new key for a store that already has one: that would
/// orphan every sealed secret.
pub async fn load(store: &dyn Store, config: &Config) -> anyhow::Result<(SecretBox, LogFormat)> {
    let key_file = &config.key_file();
    let from_env = config.secret_key.is_some();
    let key = match &config.secret_key {
        Some(text) => SecretBox::from_base64(text.expose()).context("LATCHKEY_SECRET_KEY")?,
        None if key_file.exists() => read(key_file)?,
        None => {
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
    let bound = match bind_key(store, &key).await {
        Err(KeyCheckError::Mismatch) if !from_env => finish_interrupted_rotation(store, key_file).await,
        other => other.map(|format| (key, format)),
    };
    bound.map_err(|e| match e {
        KeyCheckError::Mismatch => anyhow::anyhow!(
            "the secret key ({}) does not match the key this store was created with",
            if from_env { "LATCHKEY_SECRET_KEY".to_string() } else { key_file.display().to_string() }
        ),
        KeyCheckError::Store(e) => anyhow::Error::new(e).context("checking the secret key"),
    })
}

/// [`load`], for a command that writes: the log of a store from before
/// the keyed chain is keyed first (once, loudly, in one transaction).
pub async fn load_for_writing(store: &dyn Store, config: &Config) -> anyhow::Result<SecretBox> {
    let (key, format) = load(store, config).await?;
    if format == LogFormat::Unkeyed {
        let keyed = key_the_log(store, &key).await.context("keying the security log")?;
        if let Some(events) = keyed.filter(|events| *events > 0) {
            tracing::warn!(
                "the security log was in the unkeyed format of earlier versions; its chain is now keyed under the server key ({events} events)"
            );
        }
    }
    Ok(key)
}

/// The file a rotation writes the new key to before the store switches.
fn pending_key_file(key_file: &Path) -> std::path::PathBuf {
    key_file.with_extension("key.new")
}

/// A rotation that stopped between switching the store and renaming the key
/// files leaves the new key in `secret.key.new`: if that key fits, finish.
async fn finish_interrupted_rotation(
    store: &dyn Store,
    key_file: &Path,
) -> Result<(SecretBox, LogFormat), KeyCheckError> {
    let pending = pending_key_file(key_file);
    let Ok(key) = read(&pending) else { return Err(KeyCheckError::Mismatch) };
    let format = bind_key(store, &key).await?;
    if fs::rename(key_file, key_file.with_extension("key.old")).and_then(|()| fs::rename(&pending, key_file)).is_ok() {
        tracing::warn!(path = %key_file.display(), "finished an interrupted key rotation");
    }
    Ok((key, format))
}

/// What `latchkey key rotate` did.
pub struct Rotated {
    /// TOTP secrets re-encrypted.
    pub resealed: u64,
    /// The new key (the head after the rotation is signed with it).
    pub key: SecretBox,
    /// The new key as text, when it came from `LATCHKEY_SECRET_KEY` (the
    /// operator installs it); `None`: it is in the key file.
    pub to_install: Option<String>,
}

/// `latchkey key rotate`: a new key; every sealed secret moved to it in one
/// transaction. With a key file: the new key is written to `secret.key.new`
/// first, then swapped in (the old one kept as `secret.key.old`, for backups
/// made before). With `LATCHKEY_SECRET_KEY`: the new key is returned for the
/// operator to install. Refused, changing nothing, while any `serve` process
/// uses the store (see [`crate::serving`]).
pub async fn rotate(store: &dyn Store, old: &SecretBox, config: &Config) -> anyhow::Result<Rotated> {
    let key_file = &config.key_file();
    let (new, encoded) = SecretBox::generate();
    let from_env = config.secret_key.is_some();
    let pending = pending_key_file(key_file);
    if !from_env {
        let _ = fs::remove_file(&pending);
        write_key_file(&pending, &encoded)?;
    }
    let within = i64::try_from(crate::serving::GONE_AFTER.as_secs()).unwrap_or(i64::MAX);
    let outcome = latchkey_core::server_key::rotate_key(store, old, &new, within)
        .await
        .context("re-encrypting the secrets")
        .and_then(|rotated| match rotated {
            Resealed::Done(resealed) => Ok(resealed),
            Resealed::StillServing(processes) => Err(still_serving(&processes)),
        });
    let resealed = match outcome {
        Ok(resealed) => resealed,
        Err(e) => {
            if !from_env {
                let _ = fs::remove_file(&pending);
            }
            return Err(e);
        }
    };
    if from_env {
        return Ok(Rotated { resealed, key: new, to_install: Some(encoded) });
    }
    fs::rename(key_file, key_file.with_extension("key.old")).context("keeping the old key file")?;
    fs::rename(&pending, key_file).context("installing the new key file")?;
    Ok(Rotated { resealed, key: new, to_install: None })
}

/// The refusal to rotate under running processes, naming each.
fn still_serving(processes: &[ServingProcess]) -> anyhow::Error {
    let (they, them) = if processes.len() == 1 { ("a process is", "it") } else { ("processes are", "them") };
    let list: Vec<String> = processes.iter().map(crate::serving::describe).collect();
    anyhow::anyhow!(
        "refusing to rotate the key while {they} serving this store with the old one: {}; stop {them} first \
         (a process killed without stopping is forgotten {} s after it was last seen, by the database's clock); \
         nothing was changed",
        list.join("; "),
        crate::serving::GONE_AFTER.as_secs()
    )
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
    let (key, encoded) = SecretBox::generate();
    match write_key_file(path, &encoded) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new secret key");
            Ok(key)
        }
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists) => {
            read(path)
        }
        Err(e) => Err(e),
    }
}

/// Writes `encoded` to `path` (mode 0600) unless `path` exists: through a
/// temporary file and a hard link, so no reader sees it half-written.
fn write_key_file(path: &Path, encoded: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::data_dir::create_private_dir(dir)?;
    }
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
    linked.map_err(anyhow::Error::new)
}
