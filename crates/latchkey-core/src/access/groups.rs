//! Groups of users, kept by operators from the command line. Every change
//! of a membership is a security event of the member that names the
//! operator and the group.

use std::sync::Arc;

use crate::admin::Operator;
use crate::clock::SharedClock;
use crate::domain::{GroupName, User, Username};
use crate::error::CoreError;
use crate::events::{EventKind, Events};
use crate::store::{Membership, Store, StoreError};

/// Groups and their members.
#[derive(Clone)]
pub struct Groups {
    store: Arc<dyn Store>,
    clock: SharedClock,
    events: Events,
}

/// A group name from a command line: one that breaks the rules is a
/// validation error naming the field `group`.
fn parse(name: &str) -> Result<GroupName, CoreError> {
    GroupName::parse(name).map_err(|why| CoreError::Validation([("group", why)].into()))
}

impl Groups {
    /// Builds the service.
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, events: Events) -> Self {
        Groups { store, clock, events }
    }

    /// Every group with its number of members, by name.
    pub async fn list(&self) -> Result<Vec<(GroupName, u64)>, CoreError> {
        Ok(self.store.list_groups().await?)
    }

    /// Creates a group; a taken name is [`CoreError::Conflict`].
    pub async fn create(&self, name: &str) -> Result<GroupName, CoreError> {
        let name = parse(name)?;
        match self.store.create_group(&name, self.clock.now()).await {
            Ok(()) => Ok(name),
            Err(StoreError::Conflict(what)) => Err(CoreError::Conflict(what)),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a group; each member it had gets a removal event. Returns
    /// how many members it had.
    pub async fn delete(&self, name: &str, operator: &Operator) -> Result<usize, CoreError> {
        let name = parse(name)?;
        let members = self.store.delete_group(&name).await?.ok_or(CoreError::NotFound)?;
        let client = operator.client_about(&format!("group {name}"));
        for member in &members {
            self.events.record(*member, EventKind::GroupMemberRemoved, &client).await?;
        }
        Ok(members.len())
    }

    /// The members' usernames, sorted.
    pub async fn members(&self, name: &str) -> Result<Vec<Username>, CoreError> {
        self.store.group_members(&parse(name)?).await?.ok_or(CoreError::NotFound)
    }

    /// Adds the user to the group; false when the user was in it already.
    pub async fn add(&self, name: &str, user: &User, operator: &Operator) -> Result<bool, CoreError> {
        let name = parse(name)?;
        match self.store.add_group_member(&name, user.id, self.clock.now()).await? {
            Membership::NoSuchGroup => Err(CoreError::NotFound),
            Membership::AlreadyMember => Ok(false),
            Membership::Added => {
                let client = operator.client_about(&format!("group {name}"));
                self.events.record(user.id, EventKind::GroupMemberAdded, &client).await?;
                Ok(true)
            }
        }
    }

    /// Removes the user from the group; false when the user was not in it.
    pub async fn remove(&self, name: &str, user: &User, operator: &Operator) -> Result<bool, CoreError> {
        let name = parse(name)?;
        if !self.store.remove_group_member(&name, user.id).await? {
            return Ok(false);
        }
        let client = operator.client_about(&format!("group {name}"));
        self.events.record(user.id, EventKind::GroupMemberRemoved, &client).await?;
        Ok(true)
    }
}
