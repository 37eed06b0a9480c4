//! Moving a whole store to another database (SQLite to PostgreSQL, say):
//! every table, row for row, in one transaction on the target.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::rows::OrUnavailable;
use crate::{Dialect, SqlStore};
use latchkey_core::store::StoreError;

/// The type of a column, as far as copying needs to know.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    MaybeText,
    Int,
    MaybeInt,
    Bytes,
}

use Kind::{Bytes, Int, MaybeInt, MaybeText, Text};

/// Every table, parents before children, with its columns.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    ("meta", &[("key", Text), ("value", Bytes)]),
    (
        "users",
        &[
            ("id", Text),
            ("username", Text),
            ("email", Text),
            ("email_verified_at", MaybeInt),
            ("password_hash", Text),
            ("created_at", Int),
            ("locked_at", MaybeInt),
        ],
    ),
    (
        "sessions",
        &[
            ("id", Text),
            ("user_id", Text),
            ("token_hash", Text),
            ("csrf_token", Text),
            ("created_at", Int),
            ("last_seen_at", Int),
            ("expires_at", Int),
            ("ip", MaybeText),
            ("user_agent", MaybeText),
        ],
    ),
    ("totp_factors", &[("user_id", Text), ("confirmed_at", Int), ("last_used_step", Int)]),
    (
        "authenticators",
        &[
            ("id", Text),
            ("user_id", Text),
            ("name", Text),
            ("secret_sealed", Bytes),
            ("created_at", Int),
            ("last_used_step", Int),
            ("drift_steps", Int),
            ("last_used_ip", MaybeText),
        ],
    ),
    ("totp_enrolments", &[("user_id", Text), ("secret_sealed", Bytes), ("expires_at", Int), ("session_id", Text)]),
    ("recovery_codes", &[("id", Int), ("user_id", Text), ("code_hash", Text), ("used_at", MaybeInt)]),
    (
        "pending_sign_ins",
        &[
            ("token_hash", Text),
            ("user_id", Text),
            ("csrf_token", Text),
            ("expires_at", Int),
            ("failures", Int),
            ("ip", MaybeText),
            ("user_agent", MaybeText),
        ],
    ),
    (
        "trusted_devices",
        &[
            ("id", Text),
            ("user_id", Text),
            ("token_hash", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("ip", MaybeText),
            ("user_agent", MaybeText),
        ],
    ),
    (
        "passkeys",
        &[
            ("id", Text),
            ("user_id", Text),
            ("credential_id", Text),
            ("name", Text),
            ("credential", Text),
            ("sign_count", Int),
            ("backup_eligible", Int),
            ("backed_up", Int),
            ("created_at", Int),
            ("last_used_at", MaybeInt),
        ],
    ),
    ("user_groups", &[("name", Text), ("created_at", Int)]),
    ("group_members", &[("group_name", Text), ("user_id", Text), ("added_at", Int)]),
    (
        "app_tokens",
        &[
            ("id", Text),
            ("user_id", Text),
            ("name", Text),
            ("token_hash", Text),
            ("scopes", Text),
            ("domains", Text),
            ("two_factor", Int),
            ("created_at", Int),
            ("expires_at", MaybeInt),
            ("last_used_at", MaybeInt),
            ("last_used_ip", MaybeText),
        ],
    ),
    (
        "oidc_signing_keys",
        &[
            ("kid", Text),
            ("alg", Text),
            ("private_sealed", Bytes),
            ("public_jwk", Text),
            ("created_at", Int),
            ("retired_at", MaybeInt),
        ],
    ),
    (
        "oidc_clients",
        &[
            ("id", Text),
            ("name", Text),
            ("secret_hash", MaybeText),
            ("redirect_uris", Text),
            ("post_logout_uris", Text),
            ("groups", Text),
            ("first_party", Int),
            ("id_token_alg", Text),
            ("created_at", Int),
        ],
    ),
    ("throttles", &[("key", Text), ("failures", Int), ("blocked_until", Int), ("updated_at", Int)]),
    (
        "security_events",
        &[
            ("id", Int),
            ("user_id", Text),
            ("kind", Text),
            ("at", Int),
            ("ip", MaybeText),
            ("user_agent", MaybeText),
            ("prev_hash", Text),
            ("hash", Text),
        ],
    ),
];

/// Tables whose ids PostgreSQL hands out from a sequence, to be moved past the copied ids.
const SERIAL_TABLES: &[&str] = &["recovery_codes", "security_events"];

/// Rows read per query while copying.
const PAGE: i64 = 1000;

impl SqlStore {
    /// Copies every row of this store into `target`, which must be migrated
    /// and hold no users. All or nothing: one transaction on the target.
    /// Returns (table, rows) for each table.
    pub async fn copy_into(&self, target: &SqlStore) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let source_users: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await.or_unavailable()?;
        if source_users == 0 {
            return Err(StoreError::Unavailable("the source store has no users: is its URL right?".into()));
        }
        let mut tx = target.pool.begin().await.or_unavailable()?;
        // Empty means no users and no key bound yet: a server that ran on the
        // target would have bound its own key, and keep sealing with it.
        for table in ["users", "meta"] {
            let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut *tx)
                .await
                .or_unavailable()?;
            if rows > 0 {
                return Err(StoreError::Unavailable(
                    "the target store is not empty (it has users, or a server already ran on it): copy into a fresh database"
                        .into(),
                ));
            }
        }
        let mut report = Vec::new();
        for (table, columns) in TABLES {
            report.push((*table, self.copy_table(&mut tx, table, columns).await?));
        }
        if target.dialect == Dialect::Postgres {
            for table in SERIAL_TABLES {
                let sql = format!(
                    "SELECT CAST(setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) AS BIGINT) FROM {table}"
                );
                sqlx::query(&sql).execute(&mut *tx).await.or_unavailable()?;
            }
        }
        tx.commit().await.or_unavailable()?;
        Ok(report)
    }

    async fn copy_table(
        &self,
        tx: &mut Transaction<'_, Any>,
        table: &str,
        columns: &[(&str, Kind)],
    ) -> Result<u64, StoreError> {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let list = names.join(", ");
        let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let insert = format!("INSERT INTO {table} ({list}) VALUES ({})", placeholders.join(", "));
        let select = format!("SELECT {list} FROM {table} ORDER BY {} LIMIT $1 OFFSET $2", names[0]);
        let mut copied = 0u64;
        loop {
            let rows = sqlx::query(&select)
                .bind(PAGE)
                .bind(i64::try_from(copied).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .or_unavailable()?;
            for row in &rows {
                bind_row(sqlx::query(&insert), row, columns)?.execute(&mut **tx).await.or_unavailable()?;
            }
            copied += rows.len() as u64;
            if (rows.len() as i64) < PAGE {
                return Ok(copied);
            }
        }
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

fn bind_row<'q>(mut query: AnyQuery<'q>, row: &AnyRow, columns: &[(&str, Kind)]) -> Result<AnyQuery<'q>, StoreError> {
    let corrupt = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
    for (name, kind) in columns {
        query = match kind {
            Text => query.bind(row.try_get::<String, _>(*name).map_err(corrupt)?),
            MaybeText => query.bind(row.try_get::<Option<String>, _>(*name).map_err(corrupt)?),
            Int => query.bind(row.try_get::<i64, _>(*name).map_err(corrupt)?),
            MaybeInt => query.bind(row.try_get::<Option<i64>, _>(*name).map_err(corrupt)?),
            Bytes => query.bind(row.try_get::<Vec<u8>, _>(*name).map_err(corrupt)?),
        };
    }
    Ok(query)
}
