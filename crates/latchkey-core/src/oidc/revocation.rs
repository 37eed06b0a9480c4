//! Token revocation (RFC 7009): a client ends a token it holds, as at its
//! own sign-out. A refresh token ends with its whole grant (the family and
//! the access tokens it issued, section 2.1's "SHOULD"); an access token
//! ends alone.

use super::tokens::{ClientAuth, TokenError};
use super::Oidc;
use crate::error::CoreError;
use crate::events::EventKind;
use crate::sessions::ClientInfo;
use crate::token::token_hash;

impl Oidc {
    /// Revokes `token` (access or refresh: both are looked for, so
    /// `token_type_hint` need not be read) for the client `auth` proves,
    /// recording an `oidc_access_revoked` event when something ended. A
    /// token that is unknown, dead already or another client's changes
    /// nothing and is answered the same (section 2.2), so no client can
    /// learn whether another's token exists.
    pub async fn revoke(
        &self,
        auth: ClientAuth<'_>,
        token: &str,
        from: &ClientInfo,
    ) -> Result<Result<(), TokenError>, CoreError> {
        let client = match self.authenticate_client(auth).await? {
            Ok(client) => client,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Some(user) = self.store.revoke_token(&token_hash(token), &client.id).await? {
            self.events
                .record(user, EventKind::OidcAccessRevoked, &Oidc::about(&client.name, &client.id, from))
                .await?;
        }
        Ok(Ok(()))
    }
}
