//! The OpenID Connect provider's signing keys and clients.

use async_trait::async_trait;
use latchkey_core::oidc::clients::ClientRecord;
use latchkey_core::oidc::keys::{sealing_context, SigningAlg, SigningKeyRecord};
use latchkey_core::store::{OidcStore, StoreError};
use latchkey_core::GroupName;
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::rows::{corrupt, flag, instant, maybe_instant, seconds, OrUnavailable};
use crate::SqlStore;

const KEY_COLUMNS: &str = "kid, alg, private_sealed, public_jwk, created_at, retired_at";
const CLIENT_COLUMNS: &str = "id, name, secret_hash, redirect_uris, post_logout_uris, groups, first_party, created_at";

fn key_record(row: &AnyRow) -> Result<SigningKeyRecord, StoreError> {
    let alg: String = row.try_get("alg").map_err(corrupt)?;
    Ok(SigningKeyRecord {
        kid: row.try_get("kid").map_err(corrupt)?,
        alg: SigningAlg::parse(&alg)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown signing algorithm {alg:?}")))?,
        private_sealed: row.try_get("private_sealed").map_err(corrupt)?,
        public_jwk: row.try_get("public_jwk").map_err(corrupt)?,
        created_at: instant(row, "created_at")?,
        retired_at: maybe_instant(row, "retired_at")?,
    })
}

/// A JSON array of strings, as the lists are kept.
fn strings(row: &AnyRow, column: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.try_get(column).map_err(corrupt)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn json_list<T: AsRef<str>>(items: &[T]) -> String {
    serde_json::Value::from(items.iter().map(|i| i.as_ref().to_string()).collect::<Vec<_>>()).to_string()
}

fn client_record(row: &AnyRow) -> Result<ClientRecord, StoreError> {
    Ok(ClientRecord {
        id: row.try_get("id").map_err(corrupt)?,
        name: row.try_get("name").map_err(corrupt)?,
        secret_hash: row.try_get("secret_hash").map_err(corrupt)?,
        redirect_uris: strings(row, "redirect_uris")?,
        post_logout_uris: strings(row, "post_logout_uris")?,
        groups: strings(row, "groups")?.into_iter().map(GroupName::from_trusted).collect(),
        first_party: flag(row, "first_party")?,
        created_at: instant(row, "created_at")?,
    })
}

async fn insert_key(tx: &mut sqlx::Transaction<'_, sqlx::Any>, record: &SigningKeyRecord) -> Result<u64, StoreError> {
    let sql =
        format!("INSERT INTO oidc_signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING");
    let done = sqlx::query(&sql)
        .bind(&record.kid)
        .bind(record.alg.as_str())
        .bind(record.private_sealed.clone())
        .bind(&record.public_jwk)
        .bind(seconds(record.created_at))
        .bind(record.retired_at.map(seconds))
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    Ok(done.rows_affected())
}

/// Re-encrypts every signing key with `reseal` (associated data, sealed
/// bytes), inside a server key rotation's transaction; returns how many.
pub(crate) async fn reseal_signing_keys(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    reseal: &latchkey_core::store::Reseal<'_>,
) -> Result<u64, StoreError> {
    let rows =
        sqlx::query("SELECT kid, private_sealed FROM oidc_signing_keys").fetch_all(&mut **tx).await.or_unavailable()?;
    for row in &rows {
        let kid: String = row.try_get("kid").map_err(corrupt)?;
        let sealed: Vec<u8> = row.try_get("private_sealed").map_err(corrupt)?;
        let fresh = reseal(&sealing_context(&kid), &sealed)
            .ok_or_else(|| StoreError::Corrupt(format!("the signing key {kid} does not open")))?;
        sqlx::query("UPDATE oidc_signing_keys SET private_sealed = $1 WHERE kid = $2")
            .bind(fresh)
            .bind(&kid)
            .execute(&mut **tx)
            .await
            .or_unavailable()?;
    }
    Ok(rows.len() as u64)
}

#[async_trait]
impl OidcStore for SqlStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM oidc_signing_keys ORDER BY created_at DESC, kid");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter().map(key_record).collect()
    }

    async fn add_signing_key(&self, record: &SigningKeyRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        let added = insert_key(&mut tx, record).await?;
        tx.commit().await.or_unavailable()?;
        Ok(added == 1)
    }

    async fn rotate_signing_keys(
        &self,
        fresh: &[SigningKeyRecord],
        at: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM oidc_signing_keys WHERE retired_at < $1")
            .bind(seconds(forget_before))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        sqlx::query("UPDATE oidc_signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(seconds(at))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        for record in fresh {
            if insert_key(&mut tx, record).await? != 1 {
                return Err(StoreError::Corrupt(format!("the new {} key was not added", record.alg.as_str())));
            }
        }
        tx.commit().await.or_unavailable()
    }

    async fn insert_client(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO oidc_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        let groups: Vec<&str> = record.groups.iter().map(|g| g.as_str()).collect();
        let done = sqlx::query(&sql)
            .bind(&record.id)
            .bind(&record.name)
            .bind(record.secret_hash.clone())
            .bind(json_list(&record.redirect_uris))
            .bind(json_list(&record.post_logout_uris))
            .bind(json_list(&groups))
            .bind(i64::from(record.first_party))
            .bind(seconds(record.created_at))
            .execute(&self.pool)
            .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                Err(StoreError::Conflict("client"))
            }
            Err(e) => Err(crate::rows::unavailable(e)),
        }
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients ORDER BY name, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter().map(client_record).collect()
    }

    async fn find_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.or_unavailable()?;
        row.as_ref().map(client_record).transpose()
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }
}
