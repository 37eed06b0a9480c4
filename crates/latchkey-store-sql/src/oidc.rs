//! The OpenID Connect provider's signing keys and clients.

use async_trait::async_trait;
use latchkey_core::oidc::authorize::CodeRecord;
use latchkey_core::oidc::clients::ClientRecord;
use latchkey_core::oidc::keys::{sealing_context, SigningAlg, SigningKeyRecord};
use latchkey_core::store::{
    AccessTokenRecord, CodeUse, Issued, OidcStore, RefreshTokenRecord, RefreshUse, Spend, StoreError,
};
use latchkey_core::{GroupName, User, UserId};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

use crate::rows::{
    corrupt, flag, instant, joined_user, maybe_instant, seconds, user_id, OrUnavailable, JOINED_USER_COLUMNS,
};
use crate::{lock_user_row, SqlStore};

const KEY_COLUMNS: &str = "kid, alg, private_sealed, public_jwk, created_at, retired_at";
const CLIENT_COLUMNS: &str =
    "id, name, secret_hash, redirect_uris, post_logout_uris, groups, first_party, id_token_alg, created_at";

/// A signing algorithm as kept (a key's `alg`, a client's `id_token_alg`).
fn signing_alg(row: &AnyRow, column: &str) -> Result<SigningAlg, StoreError> {
    let alg: String = row.try_get(column).map_err(corrupt)?;
    SigningAlg::parse(&alg).ok_or_else(|| StoreError::Corrupt(format!("unknown signing algorithm {alg:?}")))
}

fn key_record(row: &AnyRow) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        kid: row.try_get("kid").map_err(corrupt)?,
        alg: signing_alg(row, "alg")?,
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
        id_token_alg: signing_alg(row, "id_token_alg")?,
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

/// Scopes as kept: space-separated.
fn scope_words(row: &AnyRow, column: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.try_get(column).map_err(corrupt)?;
    Ok(text.split_whitespace().map(ToString::to_string).collect())
}

const CODE_COLUMNS: &str =
    "code_hash, client_id, user_id, redirect_uri, scopes, nonce, code_challenge, auth_time, amr, expires_at";

fn code_record(row: &AnyRow) -> Result<CodeRecord, StoreError> {
    Ok(CodeRecord {
        code_hash: row.try_get("code_hash").map_err(corrupt)?,
        client_id: row.try_get("client_id").map_err(corrupt)?,
        user_id: user_id(row, "user_id")?,
        redirect_uri: row.try_get("redirect_uri").map_err(corrupt)?,
        scopes: scope_words(row, "scopes")?,
        nonce: row.try_get("nonce").map_err(corrupt)?,
        code_challenge: row.try_get("code_challenge").map_err(corrupt)?,
        auth_time: instant(row, "auth_time")?,
        amr: scope_words(row, "amr")?,
        expires_at: instant(row, "expires_at")?,
    })
}

const REFRESH_COLUMNS: &str = "token_hash, family, client_id, user_id, scopes, auth_time, amr, expires_at";

fn refresh_record(row: &AnyRow) -> Result<RefreshTokenRecord, StoreError> {
    Ok(RefreshTokenRecord {
        token_hash: row.try_get("token_hash").map_err(corrupt)?,
        family: row.try_get("family").map_err(corrupt)?,
        client_id: row.try_get("client_id").map_err(corrupt)?,
        user_id: user_id(row, "user_id")?,
        scopes: scope_words(row, "scopes")?,
        auth_time: instant(row, "auth_time")?,
        amr: scope_words(row, "amr")?,
        expires_at: instant(row, "expires_at")?,
    })
}

/// Writes the tokens an exchange issues, in its transaction.
async fn write_issued(tx: &mut sqlx::Transaction<'_, sqlx::Any>, issued: Issued<'_>) -> Result<(), StoreError> {
    let access = issued.access;
    let sql = "INSERT INTO oidc_access_tokens (token_hash, grant_hash, client_id, user_id, scopes, expires_at) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    sqlx::query(sql)
        .bind(&access.token_hash)
        .bind(&access.grant_hash)
        .bind(&access.client_id)
        .bind(access.user_id.to_string())
        .bind(access.scopes.join(" "))
        .bind(seconds(access.expires_at))
        .execute(&mut **tx)
        .await
        .or_unavailable()?;
    if let Some(refresh) = issued.refresh {
        let sql =
            format!("INSERT INTO oidc_refresh_tokens ({REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        sqlx::query(&sql)
            .bind(&refresh.token_hash)
            .bind(&refresh.family)
            .bind(&refresh.client_id)
            .bind(refresh.user_id.to_string())
            .bind(refresh.scopes.join(" "))
            .bind(seconds(refresh.auth_time))
            .bind(refresh.amr.join(" "))
            .bind(seconds(refresh.expires_at))
            .execute(&mut **tx)
            .await
            .or_unavailable()?;
    }
    Ok(())
}

/// Revokes every token a grant (a code's family) issued: the refresh tokens
/// of the family and the access tokens; returns how many.
async fn revoke_grant(tx: &mut sqlx::Transaction<'_, sqlx::Any>, family: &str) -> Result<u64, StoreError> {
    let mut revoked = 0;
    for (table, column) in [("oidc_refresh_tokens", "family"), ("oidc_access_tokens", "grant_hash")] {
        revoked += sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
            .bind(family)
            .execute(&mut **tx)
            .await
            .or_unavailable()?
            .rows_affected();
    }
    Ok(revoked)
}

/// A table of what is spent once to get tokens (codes, refresh tokens):
/// keyed by a hash, bound to one client, alive until `expires_at`, marked
/// `used` when spent and kept after, so a second use is recognised.
struct Spendable {
    table: &'static str,
    key: &'static str,
    columns: &'static str,
    /// The column naming the grant whose tokens a second use revokes.
    family: &'static str,
}

const CODES: Spendable =
    Spendable { table: "oidc_codes", key: "code_hash", columns: CODE_COLUMNS, family: "code_hash" };

const REFRESH_TOKENS: Spendable =
    Spendable { table: "oidc_refresh_tokens", key: "token_hash", columns: REFRESH_COLUMNS, family: "family" };

impl SqlStore {
    /// The live, unspent row with this hash of `client_id`.
    async fn find_spendable(
        &self,
        what: &Spendable,
        hash: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<AnyRow>, StoreError> {
        let Spendable { table, key, columns, .. } = what;
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {key} = $1 AND client_id = $2 AND used = 0 AND expires_at > $3"
        );
        sqlx::query(&sql)
            .bind(hash)
            .bind(client_id)
            .bind(seconds(now))
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()
    }

    /// Spends a row of `client_id` and writes what it `issues`, in one
    /// transaction; a row spent before revokes its grant's tokens.
    async fn spend(
        &self,
        what: &Spendable,
        hash: &str,
        client_id: &str,
        now: OffsetDateTime,
        issues: Option<Issued<'_>>,
    ) -> Result<Spend<AnyRow>, StoreError> {
        let Spendable { table, key, columns, family } = what;
        let mut tx = self.begin_write().await?;
        // The owner's row first, as a revocation takes it: on PostgreSQL a
        // revocation racing this spend would otherwise miss the token it writes.
        let sql = format!("SELECT user_id FROM {table} WHERE {key} = $1 AND client_id = $2");
        let owner = sqlx::query(&sql).bind(hash).bind(client_id).fetch_optional(&mut *tx).await.or_unavailable()?;
        let Some(owner) = owner else { return Ok(Spend::Dead) };
        lock_user_row(&mut tx, user_id(&owner, "user_id")?).await?;
        let sql = format!(
            "UPDATE {table} SET used = 1 WHERE {key} = $1 AND client_id = $2 AND used = 0 AND expires_at > $3 \
             RETURNING {columns}"
        );
        let taken = sqlx::query(&sql)
            .bind(hash)
            .bind(client_id)
            .bind(seconds(now))
            .fetch_optional(&mut *tx)
            .await
            .or_unavailable()?;
        if let Some(row) = taken {
            if let Some(issued) = issues {
                write_issued(&mut tx, issued).await?;
            }
            tx.commit().await.or_unavailable()?;
            return Ok(Spend::Taken(Box::new(row)));
        }
        let sql =
            format!("SELECT used, user_id, {family} AS grant_family FROM {table} WHERE {key} = $1 AND client_id = $2");
        let spent = sqlx::query(&sql).bind(hash).bind(client_id).fetch_optional(&mut *tx).await.or_unavailable()?;
        let Some(spent) = spent.filter(|row| flag(row, "used").unwrap_or(false)) else {
            return Ok(Spend::Dead);
        };
        let user = user_id(&spent, "user_id")?;
        let grant: String = spent.try_get("grant_family").map_err(corrupt)?;
        let revoked = revoke_grant(&mut tx, &grant).await?;
        tx.commit().await.or_unavailable()?;
        Ok(Spend::Reused { user, revoked })
    }
}

/// How long used codes and dead access tokens are kept: past any token a
/// code issued, so a second use is still recognised while it matters.
const KEPT_AFTER_DEATH: i64 = 3600;

#[async_trait]
impl OidcStore for SqlStore {
    async fn consented_scopes(&self, user: UserId, client_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let row = sqlx::query("SELECT scopes FROM oidc_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user.to_string())
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        row.as_ref().map(|row| scope_words(row, "scopes")).transpose()
    }

    async fn save_consent(
        &self,
        user: UserId,
        client_id: &str,
        scopes: &[String],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let before = sqlx::query("SELECT scopes FROM oidc_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user.to_string())
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await
            .or_unavailable()?;
        let mut all: Vec<String> =
            before.as_ref().map(|row| scope_words(row, "scopes")).transpose()?.unwrap_or_default();
        all.extend(scopes.iter().cloned());
        all.sort();
        all.dedup();
        let sql = "INSERT INTO oidc_consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at";
        sqlx::query(sql)
            .bind(user.to_string())
            .bind(client_id)
            .bind(all.join(" "))
            .bind(seconds(at))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()
    }

    async fn list_consents(&self, user: UserId) -> Result<Vec<(String, Vec<String>, OffsetDateTime)>, StoreError> {
        let sql = "SELECT client_id, scopes, granted_at FROM oidc_consents WHERE user_id = $1 \
                   ORDER BY granted_at DESC, client_id";
        let rows = sqlx::query(sql).bind(user.to_string()).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter()
            .map(|row| {
                let client: String = row.try_get("client_id").map_err(corrupt)?;
                Ok((client, scope_words(row, "scopes")?, instant(row, "granted_at")?))
            })
            .collect()
    }

    async fn revoke_client_access(&self, user: UserId, client_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        let mut ended = 0;
        for table in ["oidc_consents", "oidc_codes", "oidc_access_tokens", "oidc_refresh_tokens"] {
            ended += sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1 AND client_id = $2"))
                .bind(user.to_string())
                .bind(client_id)
                .execute(&mut *tx)
                .await
                .or_unavailable()?
                .rows_affected();
        }
        tx.commit().await.or_unavailable()?;
        Ok(ended > 0)
    }

    async fn insert_code(&self, record: &CodeRecord, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        for table in ["oidc_codes", "oidc_access_tokens", "oidc_refresh_tokens"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE expires_at < $1"))
                .bind(seconds(now) - KEPT_AFTER_DEATH)
                .execute(&mut *tx)
                .await
                .or_unavailable()?;
        }
        let sql = format!("INSERT INTO oidc_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        sqlx::query(&sql)
            .bind(&record.code_hash)
            .bind(&record.client_id)
            .bind(record.user_id.to_string())
            .bind(&record.redirect_uri)
            .bind(record.scopes.join(" "))
            .bind(record.nonce.clone())
            .bind(record.code_challenge.clone())
            .bind(seconds(record.auth_time))
            .bind(record.amr.join(" "))
            .bind(seconds(record.expires_at))
            .execute(&mut *tx)
            .await
            .or_unavailable()?;
        tx.commit().await.or_unavailable()
    }

    async fn find_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CodeRecord>, StoreError> {
        self.find_spendable(&CODES, code_hash, client_id, now).await?.as_ref().map(code_record).transpose()
    }

    async fn spend_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: OffsetDateTime,
        issues: Option<Issued<'_>>,
    ) -> Result<CodeUse, StoreError> {
        self.spend(&CODES, code_hash, client_id, now, issues).await?.try_map(|row| code_record(&row))
    }

    async fn find_refresh_token(
        &self,
        token_hash: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        self.find_spendable(&REFRESH_TOKENS, token_hash, client_id, now).await?.as_ref().map(refresh_record).transpose()
    }

    async fn spend_refresh_token(
        &self,
        token_hash: &str,
        client_id: &str,
        now: OffsetDateTime,
        issues: Option<Issued<'_>>,
    ) -> Result<RefreshUse, StoreError> {
        self.spend(&REFRESH_TOKENS, token_hash, client_id, now, issues).await?.try_map(|row| refresh_record(&row))
    }

    async fn revoke_token(&self, token_hash: &str, client_id: &str) -> Result<Option<UserId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = "SELECT user_id, family, 'refresh' AS kind FROM oidc_refresh_tokens \
                   WHERE token_hash = $1 AND client_id = $2 \
                   UNION ALL SELECT user_id, grant_hash AS family, 'access' AS kind FROM oidc_access_tokens \
                   WHERE token_hash = $1 AND client_id = $2";
        let found =
            sqlx::query(sql).bind(token_hash).bind(client_id).fetch_optional(&mut *tx).await.or_unavailable()?;
        let Some(found) = found else { return Ok(None) };
        let user = user_id(&found, "user_id")?;
        // As a spend does: a refresh racing this revocation comes before or after it, whole.
        lock_user_row(&mut tx, user).await?;
        let kind: String = found.try_get("kind").map_err(corrupt)?;
        let ended = if kind == "refresh" {
            let family: String = found.try_get("family").map_err(corrupt)?;
            // Something ends only while the family still had an unspent member.
            let live = sqlx::query("SELECT COUNT(*) AS n FROM oidc_refresh_tokens WHERE family = $1 AND used = 0")
                .bind(&family)
                .fetch_one(&mut *tx)
                .await
                .or_unavailable()?;
            let live: i64 = live.try_get("n").map_err(corrupt)?;
            revoke_grant(&mut tx, &family).await? > 0 && live > 0
        } else {
            let sql = "DELETE FROM oidc_access_tokens WHERE token_hash = $1 AND client_id = $2";
            let done = sqlx::query(sql).bind(token_hash).bind(client_id).execute(&mut *tx).await.or_unavailable()?;
            done.rows_affected() > 0
        };
        tx.commit().await.or_unavailable()?;
        Ok(ended.then_some(user))
    }

    async fn find_access_token(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(AccessTokenRecord, User)>, StoreError> {
        let sql = format!(
            "SELECT t.token_hash, t.grant_hash, t.client_id, t.user_id, t.scopes, t.expires_at, {JOINED_USER_COLUMNS} \
             FROM oidc_access_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2"
        );
        let row =
            sqlx::query(&sql).bind(token_hash).bind(seconds(now)).fetch_optional(&self.pool).await.or_unavailable()?;
        let Some(row) = row else { return Ok(None) };
        let user = user_id(&row, "user_id")?;
        let token = AccessTokenRecord {
            token_hash: row.try_get("token_hash").map_err(corrupt)?,
            grant_hash: row.try_get("grant_hash").map_err(corrupt)?,
            client_id: row.try_get("client_id").map_err(corrupt)?,
            user_id: user,
            scopes: scope_words(&row, "scopes")?,
            expires_at: instant(&row, "expires_at")?,
        };
        Ok(Some((token, joined_user(&row, user)?)))
    }

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
        let sql = format!("INSERT INTO oidc_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
        let groups: Vec<&str> = record.groups.iter().map(|g| g.as_str()).collect();
        let done = sqlx::query(&sql)
            .bind(&record.id)
            .bind(&record.name)
            .bind(record.secret_hash.clone())
            .bind(json_list(&record.redirect_uris))
            .bind(json_list(&record.post_logout_uris))
            .bind(json_list(&groups))
            .bind(i64::from(record.first_party))
            .bind(record.id_token_alg.as_str())
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
