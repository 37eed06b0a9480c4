//! The data dir: made readable by its owner only, and checked that it stays so.

use std::path::Path;

use anyhow::Context as _;

/// The data dir holds the key and the database: readable by its owner only.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create the data dir {}", dir.display()))
}

/// A data dir others can read exposes the key file's name and the store's
/// size, and any file a tool later makes there with a loose umask: say so.
pub fn warn_if_readable_by_others(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if std::fs::metadata(dir).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0) {
            tracing::warn!(path = %dir.display(), "the data dir is open to other users; chmod 700 it");
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}
