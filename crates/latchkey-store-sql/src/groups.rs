//! Groups of users and their members.

use async_trait::async_trait;
use latchkey_core::store::{GroupStore, Membership, StoreError};
use latchkey_core::{GroupName, UserId, Username};
use sqlx::Row;
use time::OffsetDateTime;

use crate::rows::{corrupt, seconds, user_id, OrUnavailable};
use crate::{Dialect, SqlStore};

impl SqlStore {
    async fn group_exists(&self, name: &GroupName) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar("SELECT name FROM user_groups WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .or_unavailable()?;
        Ok(found.is_some())
    }
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn list_groups(&self) -> Result<Vec<(GroupName, u64)>, StoreError> {
        let sql = "SELECT g.name, CAST(COUNT(m.user_id) AS BIGINT) AS members \
                   FROM user_groups g LEFT JOIN group_members m ON m.group_name = g.name \
                   GROUP BY g.name ORDER BY g.name";
        let rows = sqlx::query(sql).fetch_all(&self.pool).await.or_unavailable()?;
        rows.iter()
            .map(|row| {
                let name = GroupName::from_trusted(row.try_get("name").map_err(corrupt)?);
                let members: i64 = row.try_get("members").map_err(corrupt)?;
                Ok((name, members.unsigned_abs()))
            })
            .collect()
    }

    async fn create_group(&self, name: &GroupName, at: OffsetDateTime) -> Result<(), StoreError> {
        let done =
            sqlx::query("INSERT INTO user_groups (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name.as_str())
                .bind(seconds(at))
                .execute(&self.pool)
                .await
                .or_unavailable()?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict("group"))
        }
    }

    async fn delete_group(&self, name: &GroupName) -> Result<Option<Vec<UserId>>, StoreError> {
        let mut tx = self.pool.begin().await.or_unavailable()?;
        if self.dialect == Dialect::Postgres {
            // Holds off a member being added meanwhile (its foreign-key check
            // waits for this lock), who would be cascaded away unrecorded.
            // SQLite: the first DELETE takes the database's write lock anyway.
            sqlx::query("SELECT name FROM user_groups WHERE name = $1 FOR UPDATE")
                .bind(name.as_str())
                .fetch_optional(&mut *tx)
                .await
                .or_unavailable()?;
        }
        // The members first: deleting the group would cascade them away unread.
        let members = sqlx::query("DELETE FROM group_members WHERE group_name = $1 RETURNING user_id")
            .bind(name.as_str())
            .fetch_all(&mut *tx)
            .await
            .or_unavailable()?;
        let deleted = sqlx::query("DELETE FROM user_groups WHERE name = $1 RETURNING name")
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .or_unavailable()?;
        if deleted.is_none() {
            return Ok(None);
        }
        let members = members.iter().map(|row| user_id(row, "user_id")).collect::<Result<Vec<_>, _>>()?;
        tx.commit().await.or_unavailable()?;
        Ok(Some(members))
    }

    async fn group_members(&self, name: &GroupName) -> Result<Option<Vec<Username>>, StoreError> {
        if !self.group_exists(name).await? {
            return Ok(None);
        }
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_name = $1 ORDER BY u.username",
        )
        .bind(name.as_str())
        .fetch_all(&self.pool)
        .await
        .or_unavailable()?;
        Ok(Some(names.into_iter().map(Username::from_trusted).collect()))
    }

    async fn add_group_member(
        &self,
        name: &GroupName,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Membership, StoreError> {
        // One statement: the group's existence and the insert cannot be
        // split by a deletion from another process.
        let done = sqlx::query(
            "INSERT INTO group_members (group_name, user_id, added_at) \
             SELECT name, $2, $3 FROM user_groups WHERE name = $1 \
             ON CONFLICT (group_name, user_id) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(user.to_string())
        .bind(seconds(at))
        .execute(&self.pool)
        .await
        .or_unavailable()?;
        if done.rows_affected() == 1 {
            return Ok(Membership::Added);
        }
        Ok(if self.group_exists(name).await? { Membership::AlreadyMember } else { Membership::NoSuchGroup })
    }

    async fn remove_group_member(&self, name: &GroupName, user: UserId) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM group_members WHERE group_name = $1 AND user_id = $2")
            .bind(name.as_str())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .or_unavailable()?;
        Ok(done.rows_affected() == 1)
    }
}
