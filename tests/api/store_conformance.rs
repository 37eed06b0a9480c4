//! The store conformance suite: every check runs against SQLite and against
//! PostgreSQL (each on a fresh database), so both backends keep one behaviour,
//! including under concurrency.

use std::sync::Arc;

use latchkey_core::events::{verify_chain, ChainCheck, ChainKey, EventKind, EventRecord};
use latchkey_core::oidc::clients::{self as oidc_clients, NewClient};
use latchkey_core::oidc::keys::{self, SigningAlg};
use latchkey_core::server_key::{bind_key, rotate_key, KeyCheckError};
use latchkey_core::sessions::{ClientInfo, Factor, SessionRecord};
use latchkey_core::store::{
    AuthenticatorRecord, CeremonyRecord, EmailLinkPurpose, EmailLinkRecord, EmailLinkUse, Membership, NewUserRecord,
    PasskeyAdded, PasskeyRecord, PendingSignInRecord, Resealed, Reservation, ServingProcess, SessionWrite, Store,
    StoreError, TrustedDeviceRecord,
};
use latchkey_core::throttle::{Policy, CODES_PER_ACCOUNT, PASSWORDS_PER_ADDRESS};
use latchkey_core::{Email, GroupName, SecretBox, User, UserId, Username};
use latchkey_store_sql::SqlStore;
use time::{Duration, OffsetDateTime};

async fn open(url: &str) -> Arc<dyn Store> {
    let store = SqlStore::open(url, 8).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let db = crate::stores::TestDatabase::sqlite();
                    super::$check(super::open(&db.url).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL (LATCHKEY_TEST_DATABASE_URL)"]
                async fn $check() {
                    let db = crate::stores::TestDatabase::postgres().await;
                    super::$check(super::open(&db.url).await).await;
                }
            )*
        }
    };
}

conformance!(
    users_are_unique_by_folded_name_and_email,
    metadata_is_written_once,
    groups_hold_members_and_every_user_read_names_them,
    sessions_live_until_idle_or_absolute_expiry,
    other_sessions_can_be_ended_at_once,
    a_password_only_session_is_written_only_while_mfa_is_off,
    no_password_only_session_outlives_mfa_turned_on_at_the_same_moment,
    a_totp_step_is_used_once_even_by_twenty_at_once,
    a_step_is_used_once_per_user_across_authenticators,
    authenticators_are_added_up_to_a_limit_and_the_last_is_never_removed,
    trust_is_only_stored_while_mfa_is_on,
    enrolment_confirms_once_and_mfa_shows_on_the_user,
    recovery_codes_are_spent_once_even_concurrently,
    a_pending_sign_in_takes_attempts_until_its_limit_and_completes_once,
    throttling_counts_blocks_locks_and_forgets,
    parallel_attempts_never_exceed_the_free_ones,
    events_appended_concurrently_form_one_chain,
    a_key_rotation_waits_for_every_serving_process_and_relinks_the_chain,
    operator_lock_and_reset_and_signing_out_everywhere_each_end_everything_at_once,
    a_ceremony_is_taken_once_even_by_twenty_at_once,
    a_first_passkey_turns_mfa_on_and_passkeys_count_as_factors,
    a_passkey_counter_only_moves_forward,
    no_session_checked_against_an_old_password_outlives_a_change,
    an_email_link_is_used_once_even_by_twenty_at_once_and_changes_only_to_a_free_address,
    a_deleted_user_leaves_only_its_events,
    signing_keys_rotate_with_one_active_per_algorithm_and_old_ones_are_forgotten,
    oidc_clients_are_kept_with_their_lists_and_unique_ids,
    an_authorization_code_is_taken_once_by_its_client_and_a_reuse_revokes_its_tokens,
    a_refresh_racing_its_revocation_leaves_no_live_token,
);

const T0: i64 = 1_800_000_000;

/// A server key made of one repeated byte.
fn server_key(byte: u8) -> SecretBox {
    use base64::Engine as _;
    SecretBox::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
}

/// The chain key the conformance checks append under.
fn chain() -> ChainKey {
    ChainKey::of(&server_key(7))
}

fn at(offset: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + offset).unwrap()
}

async fn user(store: &Arc<dyn Store>, name: &str) -> User {
    let user = User {
        id: UserId::random(),
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        email_verified: false,
        mfa_enabled: false,
        locked: false,
        created_at: at(0),
        groups: Vec::new(),
    };
    store.insert_user(&NewUserRecord { user: user.clone(), password_hash: "$argon2id$x".into() }).await.unwrap();
    user
}

fn session(user: &User, id: &str, created: i64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        user_id: user.id,
        token_hash: format!("hash-{id}"),
        csrf_token: format!("csrf-{id}"),
        created_at: at(created),
        last_seen_at: at(created),
        expires_at: at(created + 3600),
        client: ClientInfo { ip: Some("192.0.2.1".into()), user_agent: None },
        factors: vec![Factor::Password],
        proven_at: at(created),
        password_fingerprint: None,
    }
}

/// A session whose sign-in passed a code too.
fn coded_session(user: &User, id: &str, created: i64) -> SessionRecord {
    SessionRecord { factors: vec![Factor::Password, Factor::Totp], ..session(user, id, created) }
}

async fn users_are_unique_by_folded_name_and_email(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let found = store.find_user_by_username(&Username::parse("ALICE").unwrap()).await.unwrap().unwrap();
    assert_eq!(found.user.id, alice.id);
    assert_eq!(found.password_hash, "$argon2id$x");
    let by_email = store.find_user_by_email(&Email::parse("Alice@Example.com").unwrap()).await.unwrap().unwrap();
    assert_eq!(by_email.user.id, alice.id);
    assert_eq!(store.find_user(alice.id).await.unwrap().unwrap().created_at, at(0));
    assert!(store.find_user(UserId::random()).await.unwrap().is_none());

    let mut twin = alice.clone();
    twin.id = UserId::random();
    twin.email = Email::parse("other@example.com").unwrap();
    let err = store.insert_user(&NewUserRecord { user: twin.clone(), password_hash: "h".into() }).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("username")), "{err:?}");
    twin.username = Username::parse("bob").unwrap();
    twin.email = alice.email.clone();
    let err = store.insert_user(&NewUserRecord { user: twin, password_hash: "h".into() }).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("email")), "{err:?}");
}

async fn metadata_is_written_once(store: Arc<dyn Store>) {
    assert!(store.get_meta("k").await.unwrap().is_none());
    assert!(store.put_meta_if_absent("k", &[1, 2, 3]).await.unwrap());
    assert!(!store.put_meta_if_absent("k", &[9]).await.unwrap());
    assert_eq!(store.get_meta("k").await.unwrap(), Some(vec![1, 2, 3]));
}

async fn groups_hold_members_and_every_user_read_names_them(store: Arc<dyn Store>) {
    let group = |name: &str| GroupName::parse(name).unwrap();
    let (alice, bob) = (user(&store, "alice").await, user(&store, "bob").await);
    for name in ["staff", "admins"] {
        store.create_group(&group(name), at(0)).await.unwrap();
    }
    assert!(matches!(store.create_group(&group("admins"), at(1)).await, Err(StoreError::Conflict("group"))));
    assert_eq!(store.add_group_member(&group("staff"), alice.id, at(1)).await.unwrap(), Membership::Added);
    assert_eq!(store.add_group_member(&group("staff"), alice.id, at(2)).await.unwrap(), Membership::AlreadyMember);
    assert_eq!(store.add_group_member(&group("admins"), alice.id, at(2)).await.unwrap(), Membership::Added);
    assert_eq!(store.add_group_member(&group("staff"), bob.id, at(2)).await.unwrap(), Membership::Added);
    assert_eq!(store.add_group_member(&group("nobody"), bob.id, at(2)).await.unwrap(), Membership::NoSuchGroup);
    let names = |u: &User| u.groups.iter().map(|g| g.as_str().to_string()).collect::<Vec<_>>();
    let found = store.find_user_by_username(&alice.username).await.unwrap().unwrap().user;
    assert_eq!(names(&found), ["admins", "staff"], "sorted, read with the user");
    store.insert_session(&session(&alice, "s1", 0), at(-1800)).await.unwrap();
    let (_, owner) = store.touch_session("hash-s1", at(10), at(10 - 1800), at(0)).await.unwrap().unwrap();
    assert_eq!(names(&owner), ["admins", "staff"], "and with the session");
    let listed = store.list_groups().await.unwrap();
    assert_eq!(listed, vec![(group("admins"), 1), (group("staff"), 2)]);
    let members = store.group_members(&group("staff")).await.unwrap().unwrap();
    assert_eq!(members.iter().map(Username::as_str).collect::<Vec<_>>(), ["alice", "bob"]);
    assert!(store.group_members(&group("nobody")).await.unwrap().is_none());
    assert!(store.remove_group_member(&group("admins"), alice.id).await.unwrap());
    assert!(!store.remove_group_member(&group("admins"), alice.id).await.unwrap());
    let mut gone = store.delete_group(&group("staff")).await.unwrap().unwrap();
    gone.sort_by_key(|id| id.to_string());
    let mut expected = vec![alice.id, bob.id];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(gone, expected, "the members it had");
    assert!(store.delete_group(&group("staff")).await.unwrap().is_none());
    assert!(store.find_user(alice.id).await.unwrap().unwrap().groups.is_empty());
    assert_eq!(store.list_groups().await.unwrap(), vec![(group("admins"), 0)]);
}

async fn sessions_live_until_idle_or_absolute_expiry(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    store.insert_session(&session(&alice, "s1", 0), at(-1800)).await.unwrap();
    store.insert_session(&session(&alice, "s2", 10), at(-1800)).await.unwrap();
    let (touched, owner) = store.touch_session("hash-s1", at(100), at(100 - 1800), at(40)).await.unwrap().unwrap();
    assert_eq!((owner.id, owner.username.as_str(), owner.mfa_enabled), (alice.id, "alice", false), "and its user");
    assert_eq!((touched.id.as_str(), touched.last_seen_at), ("s1", at(100)));
    assert_eq!(touched.client.ip.as_deref(), Some("192.0.2.1"));
    let (fresh, _) = store.touch_session("hash-s1", at(110), at(110 - 1800), at(50)).await.unwrap().unwrap();
    assert_eq!(fresh.last_seen_at, at(100), "seen 10 s ago: read, not written");
    let listed = store.list_sessions(alice.id, at(100), at(100 - 1800)).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec!["s2", "s1"], "newest first");
    assert!(
        store.touch_session("hash-s2", at(2000), at(2000 - 1800), at(1940)).await.unwrap().is_none(),
        "idle too long"
    );
    assert!(store.touch_session("hash-s1", at(3600), at(3599), at(3540)).await.unwrap().is_none(), "past its lifetime");
    assert!(store.touch_session("nope", at(100), at(0), at(40)).await.unwrap().is_none());
    let bob = user(&store, "bob").await;
    assert!(!store.delete_session(bob.id, &"s1".into()).await.unwrap(), "only the owner ends a session");
    assert!(store.delete_session(alice.id, &"s1".into()).await.unwrap());
    assert!(!store.delete_session(alice.id, &"s1".into()).await.unwrap());
}

async fn other_sessions_can_be_ended_at_once(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    for id in ["a", "b", "c"] {
        store.insert_session(&session(&alice, id, 0), at(-1800)).await.unwrap();
    }
    assert_eq!(store.end_sessions_and_trust(alice.id, Some(&"b".into())).await.unwrap(), 2);
    let left = store.list_sessions(alice.id, at(1), at(-1800)).await.unwrap();
    assert_eq!(left.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(left[0].factors, vec![Factor::Password]);
    assert_eq!(left[0].proven_at, at(0));
    assert!(store.mark_session_proven(&"b".into(), at(7)).await.unwrap());
    assert_eq!(store.list_sessions(alice.id, at(8), at(-1800)).await.unwrap()[0].proven_at, at(7), "re-proven");
    assert!(!store.mark_session_proven(&"a".into(), at(7)).await.unwrap(), "an ended session stays ended");
    assert_eq!(store.end_sessions_and_trust(alice.id, None).await.unwrap(), 1, "everywhere, none kept");
}

async fn a_password_only_session_is_written_only_while_mfa_is_off(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    assert_eq!(store.insert_session(&session(&alice, "before", 0), at(-1800)).await.unwrap(), SessionWrite::Written);
    assert_eq!(store.insert_session(&session(&alice, "keep", 0), at(-1800)).await.unwrap(), SessionWrite::Written);
    assert!(store.confirm_totp(alice.id, &authenticator("a", b"one", 1), &[], &"keep".into()).await.unwrap());
    let ids = |sessions: Vec<SessionRecord>| sessions.into_iter().map(|s| s.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(store.list_sessions(alice.id, at(1), at(-1800)).await.unwrap()), vec!["keep"], "the others ended");
    let late = store.insert_session(&session(&alice, "late", 0), at(-1800)).await.unwrap();
    assert_eq!(late, SessionWrite::MfaIsOn, "MFA is on now");
    let coded = store.insert_session(&coded_session(&alice, "coded", 0), at(-1800)).await.unwrap();
    assert_eq!(coded, SessionWrite::Written);
    let mut left = ids(store.list_sessions(alice.id, at(1), at(-1800)).await.unwrap());
    left.sort();
    assert_eq!(left, vec!["coded", "keep"]);
}

async fn no_password_only_session_outlives_mfa_turned_on_at_the_same_moment(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let mut sign_ins = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (store, record) = (store.clone(), session(&alice, &format!("race-{i}"), 0));
        sign_ins.spawn(async move { store.insert_session(&record, at(-1800)).await.unwrap() });
    }
    let confirmed = store.confirm_totp(alice.id, &authenticator("a", b"one", 1), &[], &"keep".into()).await.unwrap();
    let written = sign_ins.join_all().await.into_iter().filter(|w| *w == SessionWrite::Written).count();
    assert!(confirmed);
    let left = store.list_sessions(alice.id, at(1), at(-1800)).await.unwrap();
    assert!(
        left.is_empty(),
        "{written} written, and these survived MFA: {:?}",
        left.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
}

/// An authenticator record as the MFA service would write it.
fn authenticator(id: &str, sealed: &[u8], step: i64) -> AuthenticatorRecord {
    AuthenticatorRecord {
        id: id.into(),
        name: format!("phone {id}"),
        secret_sealed: sealed.to_vec(),
        created_at: at(step),
        last_used_step: step,
        drift_steps: 0,
        last_used_ip: Some("192.0.2.1".into()),
    }
}

async fn a_totp_step_is_used_once_even_by_twenty_at_once(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    assert!(store.confirm_totp(alice.id, &authenticator("a", b"sealed", 100), &[], &"keep".into()).await.unwrap());
    assert!(!store.use_totp_step(alice.id, &"a".into(), 100, 0, None).await.unwrap(), "the confirming step is spent");
    assert!(!store.use_totp_step(alice.id, &"a".into(), 99, 0, None).await.unwrap(), "so are earlier ones");
    let mut race = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        race.spawn(
            async move { store.use_totp_step(alice.id, &"a".into(), 101, 1, Some("198.51.100.7")).await.unwrap() },
        );
    }
    let wins = race.join_all().await.into_iter().filter(|won| *won).count();
    assert_eq!(wins, 1);
    let a = store.list_authenticators(alice.id).await.unwrap().remove(0);
    assert_eq!((a.last_used_step, a.drift_steps), (101, 1), "the step and the learned drift, together");
    assert_eq!(a.last_used_ip.as_deref(), Some("198.51.100.7"), "and where the code came from");
}

async fn a_step_is_used_once_per_user_across_authenticators(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    assert!(store.confirm_totp(alice.id, &authenticator("a", b"one", 10), &[], &"keep".into()).await.unwrap());
    assert!(store.add_authenticator(alice.id, &authenticator("b", b"two", 10), 10).await.unwrap());
    assert!(store.use_totp_step(alice.id, &"b".into(), 11, 0, None).await.unwrap());
    assert!(!store.use_totp_step(alice.id, &"a".into(), 11, 0, None).await.unwrap(), "contract: a step once per user");
    let steps: Vec<i64> = store.list_authenticators(alice.id).await.unwrap().iter().map(|a| a.last_used_step).collect();
    assert_eq!(steps, vec![10, 11], "the refused use left the other authenticator as it was");
    assert!(!store.use_totp_step(alice.id, &"nope".into(), 12, 0, None).await.unwrap(), "an unknown authenticator");
    assert!(store.use_totp_step(alice.id, &"a".into(), 12, 0, None).await.unwrap(), "which spent nothing");
}

async fn authenticators_are_added_up_to_a_limit_and_the_last_is_never_removed(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    assert!(!store.add_authenticator(alice.id, &authenticator("x", b"x", 1), 3).await.unwrap(), "MFA is off");
    assert!(store.list_authenticators(alice.id).await.unwrap().is_empty());
    store.put_totp_enrolment(alice.id, &"s1".into(), b"pending", at(600)).await.unwrap();
    assert!(store.confirm_totp(alice.id, &authenticator("a", b"one", 1), &[], &"keep".into()).await.unwrap());
    store.put_totp_enrolment(alice.id, &"s1".into(), b"pending", at(600)).await.unwrap();
    assert!(store.add_authenticator(alice.id, &authenticator("b", b"two", 2), 3).await.unwrap());
    assert!(
        store.get_totp_enrolment(alice.id, &"s1".into(), at(0)).await.unwrap().is_none(),
        "the enrolment is used up"
    );
    assert!(store.add_authenticator(alice.id, &authenticator("c", b"three", 3), 3).await.unwrap());
    assert!(!store.add_authenticator(alice.id, &authenticator("d", b"four", 4), 3).await.unwrap(), "the limit");
    let names: Vec<String> = store.list_authenticators(alice.id).await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, vec!["phone a", "phone b", "phone c"], "oldest first");
    assert!(store.remove_authenticator(alice.id, &"c".into()).await.unwrap());
    assert!(!store.remove_authenticator(alice.id, &"c".into()).await.unwrap(), "gone");
    // Two removals at once of the last two: one wins, one authenticator stays.
    let mut race = tokio::task::JoinSet::new();
    for id in ["a", "b"] {
        let store = store.clone();
        race.spawn(async move { store.remove_authenticator(alice.id, &id.into()).await.unwrap() });
    }
    assert_eq!(race.join_all().await.into_iter().filter(|removed| *removed).count(), 1);
    assert_eq!(store.list_authenticators(alice.id).await.unwrap().len(), 1, "never the last");
    let bob = user(&store, "bob").await;
    assert!(!store.remove_authenticator(bob.id, &"a".into()).await.unwrap(), "not bob's");
    assert!(store.delete_totp_factor(alice.id).await.unwrap());
    assert!(store.list_authenticators(alice.id).await.unwrap().is_empty(), "MFA off removes them all");
}

async fn trust_is_only_stored_while_mfa_is_on(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let device = TrustedDeviceRecord {
        id: "d1".into(),
        user_id: alice.id,
        token_hash: "t1".into(),
        created_at: at(0),
        expires_at: at(3600),
        client: ClientInfo::default(),
    };
    assert!(!store.insert_trusted_device(&device).await.unwrap(), "MFA off: nothing to skip");
    assert!(!store.is_trusted_device(alice.id, "t1", at(1)).await.unwrap());
    assert!(store.confirm_totp(alice.id, &authenticator("a", b"one", 1), &[], &"keep".into()).await.unwrap());
    assert!(store.insert_trusted_device(&device).await.unwrap());
    assert!(store.is_trusted_device(alice.id, "t1", at(1)).await.unwrap());
    assert!(store.delete_totp_factor(alice.id).await.unwrap());
    assert!(!store.is_trusted_device(alice.id, "t1", at(1)).await.unwrap(), "MFA off voids the trust with it");
}

/// A user with MFA on, three sessions, a pending sign-in and a trusted browser.
async fn busy_user(store: &Arc<dyn Store>, name: &str) -> User {
    let user = user(store, name).await;
    assert!(store
        .confirm_totp(user.id, &authenticator(&format!("{name}-a"), b"one", 1), &[], &"keep".into())
        .await
        .unwrap());
    for id in ["1", "2", "3"] {
        let coded = coded_session(&user, &format!("{name}-{id}"), 0);
        assert_eq!(store.insert_session(&coded, at(-1800)).await.unwrap(), SessionWrite::Written);
    }
    let pending = PendingSignInRecord {
        token_hash: format!("pending-{name}"),
        user_id: user.id,
        csrf_token: "c".into(),
        expires_at: at(300),
        failures: 0,
        client: ClientInfo::default(),
        password_fingerprint: String::new(),
    };
    store.insert_pending_sign_in(&pending, at(0)).await.unwrap();
    let device = TrustedDeviceRecord {
        id: format!("{name}-d").into(),
        user_id: user.id,
        token_hash: format!("device-{name}"),
        created_at: at(0),
        expires_at: at(3600),
        client: ClientInfo::default(),
    };
    assert!(store.insert_trusted_device(&device).await.unwrap());
    user
}

async fn operator_lock_and_reset_and_signing_out_everywhere_each_end_everything_at_once(store: Arc<dyn Store>) {
    let sessions_of = |user: UserId| {
        let store = store.clone();
        async move { store.list_sessions(user, at(1), at(-1800)).await.unwrap().len() }
    };
    let (alice, bob, carol) =
        (busy_user(&store, "alice").await, busy_user(&store, "bob").await, busy_user(&store, "carol").await);

    assert_eq!(store.lock_user(alice.id, at(5)).await.unwrap(), Some(3));
    assert!(store.find_user(alice.id).await.unwrap().unwrap().locked);
    assert_eq!(sessions_of(alice.id).await, 0);
    assert!(store.get_pending_sign_in("pending-alice", at(1), 5).await.unwrap().is_none());
    assert!(!store.is_trusted_device(alice.id, "device-alice", at(1)).await.unwrap());
    assert_eq!(store.lock_user(UserId::random(), at(5)).await.unwrap(), None, "no such user");

    assert_eq!(store.reset_mfa(bob.id).await.unwrap(), (3, true));
    assert!(!store.find_user(bob.id).await.unwrap().unwrap().mfa_enabled);
    assert!(store.list_authenticators(bob.id).await.unwrap().is_empty());
    assert!(store.get_pending_sign_in("pending-bob", at(1), 5).await.unwrap().is_none());
    assert!(!store.is_trusted_device(bob.id, "device-bob", at(1)).await.unwrap());
    assert_eq!(store.reset_mfa(bob.id).await.unwrap(), (0, false), "nothing left to reset");
    let dave = user(&store, "dave").await;
    store.insert_session(&session(&dave, "dave-1", 0), at(-1800)).await.unwrap();
    assert_eq!(store.reset_mfa(dave.id).await.unwrap(), (0, false), "MFA off: nothing to reset");
    assert_eq!(sessions_of(dave.id).await, 1, "and nothing else changed");

    assert_eq!(sessions_of(carol.id).await, 3, "nobody else's rows were touched");
    assert!(store.is_trusted_device(carol.id, "device-carol", at(1)).await.unwrap());
    assert_eq!(store.end_sessions_and_trust(carol.id, Some(&"carol-2".into())).await.unwrap(), 2);
    assert_eq!(sessions_of(carol.id).await, 1);
    assert!(!store.is_trusted_device(carol.id, "device-carol", at(1)).await.unwrap());
    assert!(
        store.get_pending_sign_in("pending-carol", at(1), 5).await.unwrap().is_some(),
        "a sign-in in progress stays"
    );
}

async fn enrolment_confirms_once_and_mfa_shows_on_the_user(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    store.put_totp_enrolment(alice.id, &"s1".into(), b"first", at(600)).await.unwrap();
    store.put_totp_enrolment(alice.id, &"s1".into(), b"second", at(600)).await.unwrap();
    assert_eq!(
        store.get_totp_enrolment(alice.id, &"s1".into(), at(0)).await.unwrap(),
        Some(b"second".to_vec()),
        "replaced"
    );
    assert!(store.get_totp_enrolment(alice.id, &"s1".into(), at(600)).await.unwrap().is_none(), "expired");
    assert!(store.get_totp_enrolment(alice.id, &"s2".into(), at(0)).await.unwrap().is_none(), "another session's");
    assert!(store.totp_enrolment_elsewhere(alice.id, &"s2".into(), at(0)).await.unwrap(), "s1's is live");
    assert!(!store.totp_enrolment_elsewhere(alice.id, &"s1".into(), at(0)).await.unwrap(), "its own is not elsewhere");
    assert!(!store.totp_enrolment_elsewhere(alice.id, &"s2".into(), at(600)).await.unwrap(), "expired");
    assert!(!store.find_user(alice.id).await.unwrap().unwrap().mfa_enabled);
    let hashes = vec!["h1".to_string(), "h2".to_string()];
    assert!(store.confirm_totp(alice.id, &authenticator("a", b"second", 5), &hashes, &"keep".into()).await.unwrap());
    assert!(
        !store.confirm_totp(alice.id, &authenticator("b", b"other", 6), &hashes, &"keep".into()).await.unwrap(),
        "only once"
    );
    assert!(store.find_user(alice.id).await.unwrap().unwrap().mfa_enabled);
    assert!(
        store.get_totp_enrolment(alice.id, &"s1".into(), at(0)).await.unwrap().is_none(),
        "the enrolment is used up"
    );
    let all = store.list_authenticators(alice.id).await.unwrap();
    assert_eq!(all.iter().map(|a| a.secret_sealed.clone()).collect::<Vec<_>>(), vec![b"second".to_vec()]);
    assert!(store.delete_totp_factor(alice.id).await.unwrap());
    assert!(!store.find_user(alice.id).await.unwrap().unwrap().mfa_enabled);
    assert!(store.unused_recovery_codes(alice.id).await.unwrap().is_empty(), "codes die with the factor");
}

async fn recovery_codes_are_spent_once_even_concurrently(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let hashes: Vec<String> = (0..10).map(|i| format!("hash{i}")).collect();
    assert!(store.confirm_totp(alice.id, &authenticator("a", b"s", 1), &hashes, &"keep".into()).await.unwrap());
    let codes = store.unused_recovery_codes(alice.id).await.unwrap();
    assert_eq!(codes.iter().map(|c| c.code_hash.clone()).collect::<Vec<_>>(), hashes);
    let mut race = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let store = store.clone();
        let code = codes[0].clone();
        race.spawn(async move { store.use_recovery_code(alice.id, &code, at(5)).await.unwrap() });
    }
    assert_eq!(race.join_all().await.into_iter().filter(|won| *won).count(), 1);
    assert_eq!(store.unused_recovery_codes(alice.id).await.unwrap().len(), 9);
    assert!(store.replace_recovery_codes(alice.id, &["new".to_string()]).await.unwrap());
    let left = store.unused_recovery_codes(alice.id).await.unwrap();
    assert_eq!(left.iter().map(|c| c.code_hash.as_str()).collect::<Vec<_>>(), vec!["new"]);
    let replaced = &codes[1];
    assert!(!store.use_recovery_code(alice.id, replaced, at(6)).await.unwrap(), "a replaced code is void");
    let bob = user(&store, "bob").await;
    assert!(!store.replace_recovery_codes(bob.id, &["x".to_string()]).await.unwrap(), "no factor, no codes");
    assert!(store.unused_recovery_codes(bob.id).await.unwrap().is_empty());
}

async fn a_pending_sign_in_takes_attempts_until_its_limit_and_completes_once(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let record = PendingSignInRecord {
        token_hash: "p1".into(),
        user_id: alice.id,
        csrf_token: "c".into(),
        expires_at: at(300),
        failures: 0,
        client: ClientInfo::default(),
        password_fingerprint: String::new(),
    };
    store.insert_pending_sign_in(&record, at(0)).await.unwrap();
    assert_eq!(store.get_pending_sign_in("p1", at(1), 5).await.unwrap().unwrap().user_id, alice.id);
    let mut race = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let store = store.clone();
        race.spawn(async move { store.claim_pending_attempt("p1", at(2), 5).await.unwrap().is_some() });
    }
    assert_eq!(race.join_all().await.into_iter().filter(|claimed| *claimed).count(), 5, "five attempts, no more");
    assert!(store.get_pending_sign_in("p1", at(2), 5).await.unwrap().is_none(), "used up");

    store
        .insert_pending_sign_in(&PendingSignInRecord { token_hash: "p2".into(), ..record.clone() }, at(0))
        .await
        .unwrap();
    assert!(!store.take_pending_sign_in("p2", at(300)).await.unwrap(), "expired");
    assert!(store.take_pending_sign_in("p2", at(299)).await.unwrap());
    assert!(!store.take_pending_sign_in("p2", at(299)).await.unwrap(), "once");
}

async fn throttling_counts_blocks_locks_and_forgets(store: Arc<dyn Store>) {
    let policy = Policy { lock_after: Some(7), ..CODES_PER_ACCOUNT };
    for n in 1..=4 {
        assert_eq!(store.reserve_attempt("k", at(0), &policy).await.unwrap(), Reservation::Granted { failures: n });
    }
    assert_eq!(store.reserve_attempt("k", at(0), &policy).await.unwrap(), Reservation::Granted { failures: 5 });
    let refused = store.reserve_attempt("k", at(29), &policy).await.unwrap();
    assert_eq!(refused, Reservation::Refused { blocked_until: Some(at(30)) }, "the fifth failure starts 30 s");
    assert_eq!(store.reserve_attempt("k", at(30), &policy).await.unwrap(), Reservation::Granted { failures: 6 });
    assert_eq!(
        store.reserve_attempt("k", at(31), &policy).await.unwrap(),
        Reservation::Refused { blocked_until: Some(at(90)) },
        "then 60 s"
    );
    assert_eq!(store.reserve_attempt("k", at(90), &policy).await.unwrap(), Reservation::Granted { failures: 7 });
    assert_eq!(
        store.reserve_attempt("k", at(100_000), &policy).await.unwrap(),
        Reservation::Refused { blocked_until: None },
        "locked, however long one waits"
    );
    let unlocked = Policy { lock_after: None, ..policy };
    assert!(matches!(store.reserve_attempt("k", at(100_000), &unlocked).await.unwrap(), Reservation::Granted { .. }));
    store.clear_attempts("k").await.unwrap();
    assert_eq!(store.reserve_attempt("k", at(100_001), &policy).await.unwrap(), Reservation::Granted { failures: 1 });
    for _ in 0..4 {
        store.reserve_attempt("k", at(100_001), &policy).await.unwrap();
    }
    assert_eq!(store.blocked_until("k", at(100_010)).await.unwrap(), Some(at(100_031)), "read without counting");
    assert_eq!(store.blocked_until("k", at(100_031)).await.unwrap(), None, "and over when it is over");

    let forgetful = PASSWORDS_PER_ADDRESS;
    assert_eq!(store.reserve_attempt("ip", at(0), &forgetful).await.unwrap(), Reservation::Granted { failures: 1 });
    assert_eq!(store.reserve_attempt("ip", at(1), &forgetful).await.unwrap(), Reservation::Granted { failures: 2 });
    assert_eq!(store.blocked_until("ip", at(1)).await.unwrap(), None, "two failures block nothing yet");
    for _ in 0..18 {
        store.count_failure("seen", at(0), &forgetful).await.unwrap();
    }
    store.count_failure("seen", at(0), &forgetful).await.unwrap();
    store.count_failure("seen", at(0), &forgetful).await.unwrap();
    assert_eq!(store.blocked_until("seen", at(1)).await.unwrap(), Some(at(30)), "the 20th failure starts 30 s");
    store.count_failure("seen", at(1), &forgetful).await.unwrap();
    assert_eq!(store.blocked_until("seen", at(2)).await.unwrap(), Some(at(61)), "one counted while delayed: 60 s");
    let later = 1 + Duration::hours(1).whole_seconds();
    assert_eq!(store.reserve_attempt("ip", at(later), &forgetful).await.unwrap(), Reservation::Granted { failures: 1 });
}

async fn parallel_attempts_never_exceed_the_free_ones(store: Arc<dyn Store>) {
    let mut race = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let store = store.clone();
        race.spawn(async move { store.reserve_attempt("hot", at(0), &CODES_PER_ACCOUNT).await.unwrap() });
    }
    let granted = race.join_all().await.into_iter().filter(|r| matches!(r, Reservation::Granted { .. })).count();
    assert_eq!(granted, 5);
}

async fn events_appended_concurrently_form_one_chain(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let mut appends = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = store.clone();
        appends.spawn(async move {
            let event = EventRecord {
                user_id: alice.id,
                kind: EventKind::ALL[i as usize % EventKind::ALL.len()],
                at: at(i),
                client: ClientInfo { ip: Some("192.0.2.9".into()), user_agent: Some("ua".into()) },
            };
            store.insert_event(&event, &chain()).await.unwrap();
        });
    }
    appends.join_all().await;
    assert_eq!(verify_chain(store.as_ref(), &chain(), None).await.unwrap(), ChainCheck::Intact { events: 40 });
    let listed = store.list_events(alice.id, 5).await.unwrap();
    assert_eq!(listed.len(), 5);
    let last = store.chained_events(0, 100).await.unwrap().pop().unwrap();
    assert_eq!(listed[0].kind, last.event.kind, "newest first");

    let event = |kind| EventRecord { user_id: alice.id, kind, at: at(100), client: ClientInfo::default() };
    store.insert_event(&event(EventKind::CodeReplayed), &chain()).await.unwrap();
    for _ in 0..150 {
        store.insert_event(&event(EventKind::SignedIn), &chain()).await.unwrap();
    }
    let kinds = [EventKind::CodeReplayed, EventKind::ReplayAlarmCleared];
    let latest = store.latest_event_kind(alice.id, &kinds).await.unwrap();
    assert_eq!(latest, Some(EventKind::CodeReplayed), "found however many events came after");
    store.insert_event(&event(EventKind::ReplayAlarmCleared), &chain()).await.unwrap();
    let latest = store.latest_event_kind(alice.id, &kinds).await.unwrap();
    assert_eq!(latest, Some(EventKind::ReplayAlarmCleared));
}

async fn a_key_rotation_waits_for_every_serving_process_and_relinks_the_chain(store: Arc<dyn Store>) {
    let (old, new) = (server_key(1), server_key(2));
    bind_key(store.as_ref(), &old).await.unwrap();
    let alice = user(&store, "alice").await;
    for kind in [EventKind::SignedIn, EventKind::MfaEnabled, EventKind::SignedOut] {
        let event = EventRecord { user_id: alice.id, kind, at: at(1), client: ClientInfo::default() };
        store.insert_event(&event, &ChainKey::of(&old)).await.unwrap();
    }
    let serving = |id: &str| ServingProcess {
        id: id.into(),
        host: "web-1".into(),
        pid: 4242,
        listen: "127.0.0.1:8080".into(),
        started_at: at(0),
        seen_at: OffsetDateTime::UNIX_EPOCH,
    };
    store.heartbeat_process(&serving("a")).await.unwrap();
    store.heartbeat_process(&serving("a")).await.unwrap();
    store.heartbeat_process(&serving("b")).await.unwrap();

    let Resealed::StillServing(found) = rotate_key(store.as_ref(), &old, &new, 30).await.unwrap() else {
        panic!("refused while two processes serve");
    };
    let ids: Vec<&str> = found.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "one entry per process however often it heartbeats");
    assert!(found[0].seen_at.year() >= 2025, "stamped with the database's clock, not the process's: {found:?}");
    bind_key(store.as_ref(), &old).await.expect("nothing changed: the old key still fits");
    assert_eq!(
        verify_chain(store.as_ref(), &ChainKey::of(&old), None).await.unwrap(),
        ChainCheck::Intact { events: 3 }
    );

    store.forget_process("a").await.unwrap();
    let refused = rotate_key(store.as_ref(), &old, &new, 30).await.unwrap();
    assert!(matches!(&refused, Resealed::StillServing(left) if left.len() == 1 && left[0].id == "b"), "{refused:?}");
    // An ID token signing key is sealed under the server key too, and moves with it.
    let signing = keys::generate(SigningAlg::Es256, &old, at(0)).unwrap();
    assert!(store.add_signing_key(&signing).await.unwrap());
    // A process not seen within the window (here: a window that ends before now) is taken to be gone.
    assert_eq!(rotate_key(store.as_ref(), &old, &new, -60).await.unwrap(), Resealed::Done(1));
    let resealed = store.signing_keys().await.unwrap().remove(0).private_sealed;
    assert!(
        new.open(&resealed, &keys::sealing_context(&signing.kid)).is_ok(),
        "the signing key opens under the new key"
    );
    bind_key(store.as_ref(), &new).await.expect("the new key fits");
    assert!(matches!(bind_key(store.as_ref(), &old).await, Err(KeyCheckError::Mismatch)));
    assert_eq!(
        verify_chain(store.as_ref(), &ChainKey::of(&new), None).await.unwrap(),
        ChainCheck::Intact { events: 3 }
    );
    assert_eq!(
        verify_chain(store.as_ref(), &ChainKey::of(&old), None).await.unwrap(),
        ChainCheck::BrokenAt { id: 1 },
        "the chain is re-linked under the new key"
    );
}

fn ceremony(key: &str, purpose: &str, expires: i64) -> CeremonyRecord {
    CeremonyRecord {
        key: key.into(),
        purpose: purpose.into(),
        user_id: None,
        bound_to: String::new(),
        state: "{}".into(),
        expires_at: at(expires),
    }
}

fn passkey(user: &User, id: &str, credential_id: &str) -> PasskeyRecord {
    PasskeyRecord {
        id: id.into(),
        user_id: user.id,
        credential_id: credential_id.into(),
        name: format!("key {id}"),
        credential: "{}".into(),
        sign_count: 1,
        backup_eligible: false,
        backed_up: false,
        created_at: at(0),
        last_used_at: None,
    }
}

async fn a_ceremony_is_taken_once_even_by_twenty_at_once(store: Arc<dyn Store>) {
    store.put_ceremony(&ceremony("c1", "sign_in", 300), at(0)).await.unwrap();
    assert!(store.take_ceremony("c1", "register", "", at(1)).await.unwrap().is_none(), "only for its purpose");
    assert!(
        store.take_ceremony("c1", "sign_in", "session-x", at(1)).await.unwrap().is_none(),
        "only by what it is bound to"
    );
    let mut race = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        race.spawn(async move { store.take_ceremony("c1", "sign_in", "", at(1)).await.unwrap().is_some() });
    }
    assert_eq!(race.join_all().await.into_iter().filter(|taken| *taken).count(), 1);
    store.put_ceremony(&ceremony("c2", "sign_in", 300), at(0)).await.unwrap();
    assert!(store.take_ceremony("c2", "sign_in", "", at(300)).await.unwrap().is_none(), "dead at its expiry");
    // A second put under the same key (a new second-step challenge) replaces the first.
    store.put_ceremony(&ceremony("c3", "second_factor", 300), at(0)).await.unwrap();
    let newer = CeremonyRecord { state: "{\"newer\":true}".into(), ..ceremony("c3", "second_factor", 400) };
    store.put_ceremony(&newer, at(0)).await.unwrap();
    let taken = store.take_ceremony("c3", "second_factor", "", at(350)).await.unwrap().unwrap();
    assert_eq!(taken.state, newer.state);
}

async fn a_first_passkey_turns_mfa_on_and_passkeys_count_as_factors(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    store.insert_session(&session(&alice, "keep", 0), at(-1800)).await.unwrap();
    store.insert_session(&session(&alice, "other", 0), at(-1800)).await.unwrap();
    let added = store.add_passkey(&passkey(&alice, "p1", "cred-1"), &["h1".into()], &"keep".into(), 2).await.unwrap();
    assert_eq!(added, PasskeyAdded::TurnedMfaOn);
    assert!(store.find_user(alice.id).await.unwrap().unwrap().mfa_enabled);
    let live = store.list_sessions(alice.id, at(1), at(-1800)).await.unwrap();
    assert_eq!(live.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(), vec!["keep"], "the others ended");
    assert!(live[0].passed_second_factor(), "the session that added it passed it");
    assert_eq!(store.unused_recovery_codes(alice.id).await.unwrap().len(), 1);
    let again = store.add_passkey(&passkey(&alice, "p2", "cred-2"), &[], &"keep".into(), 2).await.unwrap();
    assert_eq!(again, PasskeyAdded::Added);
    assert_eq!(
        store.add_passkey(&passkey(&alice, "p3", "cred-3"), &[], &"keep".into(), 2).await.unwrap(),
        PasskeyAdded::TooMany
    );
    let bob = user(&store, "bob").await;
    let taken = store.add_passkey(&passkey(&bob, "p4", "cred-1"), &["h".into()], &"keep".into(), 2).await;
    assert!(matches!(taken, Err(StoreError::Conflict("credential_id"))), "{taken:?}");
    assert!(!store.find_user(bob.id).await.unwrap().unwrap().mfa_enabled, "nothing of it stayed");

    // Two removals at once of the last two: one wins. A TOTP authenticator
    // then counts too, so the last passkey may go.
    let mut race = tokio::task::JoinSet::new();
    for id in ["p1", "p2"] {
        let store = store.clone();
        race.spawn(async move { store.remove_passkey(alice.id, &id.into()).await.unwrap() });
    }
    assert_eq!(race.join_all().await.into_iter().filter(|removed| *removed).count(), 1);
    let left = store.list_passkeys(alice.id).await.unwrap().remove(0).id;
    assert!(store.add_authenticator(alice.id, &authenticator("a", b"one", 1), 3).await.unwrap());
    assert!(store.remove_passkey(alice.id, &left).await.unwrap());
    assert!(!store.remove_authenticator(alice.id, &"a".into()).await.unwrap(), "now the app is the last");
    assert!(store.add_passkey(&passkey(&alice, "p5", "cred-5"), &[], &"keep".into(), 2).await.is_ok());
    assert!(store.remove_authenticator(alice.id, &"a".into()).await.unwrap(), "a passkey stays");
    // The operator's reset takes passkeys and ceremonies with it.
    let bound = CeremonyRecord { user_id: Some(alice.id), bound_to: "keep".into(), ..ceremony("c", "register", 300) };
    store.put_ceremony(&bound, at(0)).await.unwrap();
    assert_eq!(store.reset_mfa(alice.id).await.unwrap(), (1, true));
    assert!(store.list_passkeys(alice.id).await.unwrap().is_empty());
    assert!(store.take_ceremony("c", "register", "keep", at(1)).await.unwrap().is_none());
    assert!(!store.find_user(alice.id).await.unwrap().unwrap().mfa_enabled);
    // With MFA off, a passkey without recovery codes turns nothing on.
    let without = store.add_passkey(&passkey(&alice, "p6", "cred-6"), &[], &"keep".into(), 2).await.unwrap();
    assert_eq!(without, PasskeyAdded::MfaIsOff);
    assert!(
        store.list_passkeys(alice.id).await.unwrap().is_empty()
            && !store.find_user(alice.id).await.unwrap().unwrap().mfa_enabled
    );
}

async fn a_passkey_counter_only_moves_forward(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    store.add_passkey(&passkey(&alice, "p1", "cred-1"), &["h".into()], &"keep".into(), 5).await.unwrap();
    let stored = store.find_passkey("cred-1").await.unwrap().unwrap();
    let used = |count: u32| PasskeyRecord { sign_count: count, last_used_at: Some(at(5)), ..stored.clone() };
    // Two uses racing from the same stored counter: one is written.
    let mut race = tokio::task::JoinSet::new();
    for count in [2, 3] {
        let (store, record) = (store.clone(), used(count));
        race.spawn(async move { store.record_passkey_use(&record, 1).await.unwrap() });
    }
    assert_eq!(race.join_all().await.into_iter().filter(|written| *written).count(), 1);
    let now = store.find_passkey("cred-1").await.unwrap().unwrap();
    assert!(now.sign_count >= 2 && now.last_used_at == Some(at(5)));
    assert!(!store.record_passkey_use(&used(1), now.sign_count).await.unwrap(), "never backwards");
    assert!(!store.record_passkey_use(&used(0), now.sign_count).await.unwrap(), "nor back to no counter");
    assert!(store.rename_passkey(alice.id, &"p1".into(), "Laptop").await.unwrap());
    let bob = user(&store, "bob").await;
    assert!(!store.rename_passkey(bob.id, &"p1".into(), "Mine").await.unwrap(), "not bob's");
}

async fn no_session_checked_against_an_old_password_outlives_a_change(store: Arc<dyn Store>) {
    use latchkey_core::token::token_hash;
    let alice = user(&store, "alice").await;
    let checked = |hash: &str| Some(token_hash(hash));
    // Twenty sign-ins that checked the old password race the change.
    let mut sign_ins = tokio::task::JoinSet::new();
    for i in 0..20 {
        let record =
            SessionRecord { password_fingerprint: checked("$argon2id$x"), ..session(&alice, &format!("race-{i}"), 0) };
        let store = store.clone();
        sign_ins.spawn(async move { store.insert_session(&record, at(-1800)).await.unwrap() });
    }
    assert!(store.change_password(alice.id, "$argon2id$new", &"keep".into()).await.unwrap().is_some());
    let written = sign_ins.join_all().await.into_iter().filter(|w| *w == SessionWrite::Written).count();
    let left = store.list_sessions(alice.id, at(1), at(-1800)).await.unwrap();
    assert!(left.is_empty(), "{written} written, and {} outlived the change", left.len());
    let late = SessionRecord { password_fingerprint: checked("$argon2id$x"), ..session(&alice, "late", 0) };
    assert_eq!(store.insert_session(&late, at(-1800)).await.unwrap(), SessionWrite::PasswordChanged);
    let fresh = SessionRecord { password_fingerprint: checked("$argon2id$new"), ..session(&alice, "fresh", 0) };
    assert_eq!(store.insert_session(&fresh, at(-1800)).await.unwrap(), SessionWrite::Written);
}

fn email_link(user: &User, hash: &str, email: &str, purpose: EmailLinkPurpose) -> EmailLinkRecord {
    EmailLinkRecord {
        token_hash: hash.into(),
        user_id: user.id,
        email: Email::parse(email).unwrap(),
        purpose,
        expires_at: at(600),
    }
}

async fn an_email_link_is_used_once_even_by_twenty_at_once_and_changes_only_to_a_free_address(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store
        .insert_email_link(&email_link(&alice, "v1", "alice@example.com", EmailLinkPurpose::Verify), at(0))
        .await
        .unwrap();
    let mut race = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        race.spawn(async move { store.use_email_link("v1", at(1)).await.unwrap() });
    }
    let uses = race.join_all().await;
    assert_eq!(uses.iter().filter(|u| **u == EmailLinkUse::Verified(alice.id)).count(), 1, "{uses:?}");
    assert!(store.find_user(alice.id).await.unwrap().unwrap().email_verified);

    let taken = email_link(&alice, "c1", "bob@example.com", EmailLinkPurpose::Change);
    store.insert_email_link(&taken, at(0)).await.unwrap();
    assert!(matches!(store.use_email_link("c1", at(1)).await, Err(StoreError::Conflict("email"))));
    assert_eq!(store.find_user(alice.id).await.unwrap().unwrap().email.as_str(), "alice@example.com");
    assert_eq!(store.find_user(bob.id).await.unwrap().unwrap().email.as_str(), "bob@example.com");

    let change = email_link(&alice, "c2", "alice@example.org", EmailLinkPurpose::Change);
    store.insert_email_link(&change, at(0)).await.unwrap();
    assert!(store.use_email_link("c1", at(1)).await.unwrap() == EmailLinkUse::Dead, "the newer change replaced it");
    assert_eq!(store.pending_email_change(alice.id, at(1)).await.unwrap().unwrap().as_str(), "alice@example.org");
    assert_eq!(store.use_email_link("c2", at(600)).await.unwrap(), EmailLinkUse::Dead, "dead at its expiry");
    store
        .insert_email_link(&email_link(&alice, "c3", "alice@example.org", EmailLinkPurpose::Change), at(0))
        .await
        .unwrap();
    store
        .insert_email_link(&email_link(&alice, "v2", "alice@example.com", EmailLinkPurpose::Verify), at(0))
        .await
        .unwrap();
    let old = Email::parse("alice@example.com").unwrap();
    assert_eq!(store.use_email_link("c3", at(1)).await.unwrap(), EmailLinkUse::Changed { user: alice.id, old });
    assert_eq!(store.use_email_link("v2", at(1)).await.unwrap(), EmailLinkUse::Dead, "it went to the old address");
    assert!(store.find_user_by_email(&Email::parse("alice@example.org").unwrap()).await.unwrap().is_some());
}

async fn a_deleted_user_leaves_only_its_events(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    store.insert_session(&session(&alice, "s1", 0), at(-1800)).await.unwrap();
    store
        .insert_email_link(&email_link(&alice, "v1", "alice@example.com", EmailLinkPurpose::Verify), at(0))
        .await
        .unwrap();
    let event = EventRecord { user_id: alice.id, kind: EventKind::SignedIn, at: at(1), client: ClientInfo::default() };
    store.insert_event(&event, &chain()).await.unwrap();
    // A ceremony names the user without a foreign key: only the deletion's own list removes it.
    let bound = CeremonyRecord { user_id: Some(alice.id), ..ceremony("c1", "second_factor", 300) };
    store.put_ceremony(&bound, at(0)).await.unwrap();
    let staff = GroupName::parse("staff").unwrap();
    store.create_group(&staff, at(0)).await.unwrap();
    store.add_group_member(&staff, alice.id, at(0)).await.unwrap();
    assert!(store.delete_user(alice.id).await.unwrap());
    assert!(store.take_ceremony("c1", "second_factor", "", at(1)).await.unwrap().is_none(), "its ceremony went");
    assert!(store.group_members(&staff).await.unwrap().unwrap().is_empty(), "and its memberships");
    assert!(!store.delete_user(alice.id).await.unwrap(), "once");
    assert!(store.find_user(alice.id).await.unwrap().is_none());
    assert!(store.touch_session("hash-s1", at(2), at(-1800), at(0)).await.unwrap().is_none());
    assert_eq!(store.use_email_link("v1", at(2)).await.unwrap(), EmailLinkUse::Dead);
    assert_eq!(store.list_events(alice.id, 10).await.unwrap().len(), 1, "the log keeps its events");
    user(&store, "alice").await;
}

async fn signing_keys_rotate_with_one_active_per_algorithm_and_old_ones_are_forgotten(store: Arc<dyn Store>) {
    let key = server_key(3);
    let first = keys::generate(SigningAlg::Rs256, &key, at(0)).unwrap();
    assert!(store.add_signing_key(&first).await.unwrap());
    let racing = keys::generate(SigningAlg::Rs256, &key, at(0)).unwrap();
    assert!(!store.add_signing_key(&racing).await.unwrap(), "one signing key per algorithm: the other process's stays");
    let second = keys::generate(SigningAlg::Rs256, &key, at(10)).unwrap();
    store.rotate_signing_keys(std::slice::from_ref(&second), at(10), at(-86_400)).await.unwrap();
    let stored = store.signing_keys().await.unwrap();
    assert_eq!(stored.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), [second.kid.as_str(), first.kid.as_str()]);
    assert_eq!((stored[0].retired_at, stored[1].retired_at), (None, Some(at(10))));
    let third = keys::generate(SigningAlg::Rs256, &key, at(100_000)).unwrap();
    store.rotate_signing_keys(std::slice::from_ref(&third), at(100_000), at(100_000 - 86_400)).await.unwrap();
    let kids: Vec<String> = store.signing_keys().await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, [third.kid, second.kid], "a key retired over a day ago is forgotten");
}

async fn oidc_clients_are_kept_with_their_lists_and_unique_ids(store: Arc<dyn Store>) {
    let new = NewClient {
        id: Some("grafana".into()),
        name: "Grafana".into(),
        redirect_uris: vec![
            "https://grafana.example.com/login/generic_oauth".into(),
            "http://localhost:3000/cb".into(),
        ],
        post_logout_uris: vec!["https://grafana.example.com/".into()],
        groups: vec!["staff".into(), "admins".into()],
        first_party: true,
        id_token_alg: Some("ES256".into()),
        ..NewClient::default()
    };
    let checked = oidc_clients::check(new.clone(), at(0)).unwrap();
    assert_eq!(checked.record.id_token_alg, latchkey_core::oidc::keys::SigningAlg::Es256);
    store.insert_client(&checked.record).await.unwrap();
    assert_eq!(store.find_client("grafana").await.unwrap().as_ref(), Some(&checked.record));
    assert!(matches!(store.insert_client(&checked.record).await, Err(StoreError::Conflict("client"))));
    let public = oidc_clients::check(NewClient { id: Some("spa".into()), public: true, ..new }, at(0)).unwrap();
    store.insert_client(&public.record).await.unwrap();
    assert_eq!(store.list_clients().await.unwrap().len(), 2);
    assert!(store.find_client("spa").await.unwrap().unwrap().is_public());
    assert!(store.delete_client("spa").await.unwrap());
    assert!(!store.delete_client("spa").await.unwrap());
    assert!(store.find_client("spa").await.unwrap().is_none());
}

async fn an_authorization_code_is_taken_once_by_its_client_and_a_reuse_revokes_its_tokens(store: Arc<dyn Store>) {
    use latchkey_core::oidc::authorize::CodeRecord;
    use latchkey_core::store::{AccessTokenRecord, CodeUse, Issued};
    let alice = user(&store, "alice").await;
    let code = CodeRecord {
        code_hash: "code-1".into(),
        client_id: "app".into(),
        user_id: alice.id,
        redirect_uri: "https://app.example/cb".into(),
        scopes: vec!["openid".into(), "email".into()],
        nonce: Some("n".into()),
        code_challenge: None,
        auth_time: at(0),
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        expires_at: at(60),
    };
    store.insert_code(&code, at(0)).await.unwrap();
    assert!(store.find_code("code-1", "other-app", at(1)).await.unwrap().is_none(), "only its client's");
    assert!(matches!(store.spend_code("code-1", "other-app", at(1), None).await.unwrap(), CodeUse::Dead));
    assert_eq!(store.find_code("code-1", "app", at(1)).await.unwrap().unwrap().amr, code.amr);
    let token = |n: usize| AccessTokenRecord {
        token_hash: format!("token-{n}"),
        grant_hash: "code-1".into(),
        client_id: "app".into(),
        user_id: alice.id,
        scopes: code.scopes.clone(),
        expires_at: at(600),
    };
    // Twenty exchanges at once, each with its own tokens: one spends the
    // code and writes its token; the others find it spent and revoke it.
    let mut race = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (store, token) = (store.clone(), token(n));
        race.spawn(async move {
            let issued = Issued { access: &token, refresh: None };
            matches!(store.spend_code("code-1", "app", at(1), Some(issued)).await.unwrap(), CodeUse::Taken(_))
        });
    }
    assert_eq!(race.join_all().await.into_iter().filter(|taken| *taken).count(), 1);
    for n in 0..20 {
        assert!(
            store.find_access_token(&format!("token-{n}"), at(2)).await.unwrap().is_none(),
            "no token outlives a reuse"
        );
    }
    let late = CodeRecord { code_hash: "code-2".into(), ..code.clone() };
    store.insert_code(&late, at(0)).await.unwrap();
    let kept = AccessTokenRecord { grant_hash: "code-2".into(), ..token(99) };
    let issued = Issued { access: &kept, refresh: None };
    assert!(matches!(store.spend_code("code-2", "app", at(1), Some(issued)).await.unwrap(), CodeUse::Taken(_)));
    let (found, owner) = store.find_access_token("token-99", at(2)).await.unwrap().unwrap();
    assert_eq!((found.scopes, owner.id), (code.scopes.clone(), alice.id));
    assert!(matches!(
        store.spend_code("code-2", "app", at(3), None).await.unwrap(),
        CodeUse::Reused { revoked: 1, .. }
    ));
    assert!(store.find_access_token("token-99", at(4)).await.unwrap().is_none(), "revoked by the reuse");
    let expired = CodeRecord { code_hash: "code-3".into(), ..code };
    store.insert_code(&expired, at(0)).await.unwrap();
    assert!(store.find_code("code-3", "app", at(60)).await.unwrap().is_none(), "dead at its expiry");
    assert!(matches!(store.spend_code("code-3", "app", at(60), None).await.unwrap(), CodeUse::Dead));
}

/// A client revokes a refresh token while the same token is being spent
/// (its app refreshing in another tab): whichever comes first, nothing the
/// spend writes outlives the revocation.
async fn a_refresh_racing_its_revocation_leaves_no_live_token(store: Arc<dyn Store>) {
    use latchkey_core::oidc::authorize::CodeRecord;
    use latchkey_core::store::{AccessTokenRecord, Issued, RefreshTokenRecord};
    let alice = user(&store, "alice").await;
    let access = |hash: String, family: &str| AccessTokenRecord {
        token_hash: hash,
        grant_hash: family.into(),
        client_id: "app".into(),
        user_id: alice.id,
        scopes: vec!["openid".into(), "offline_access".into()],
        expires_at: at(600),
    };
    let refresh = |hash: String, family: &str| RefreshTokenRecord {
        token_hash: hash,
        family: family.into(),
        client_id: "app".into(),
        user_id: alice.id,
        scopes: vec!["openid".into(), "offline_access".into()],
        auth_time: at(0),
        amr: vec!["pwd".into()],
        expires_at: at(3600),
    };
    for round in 0..10 {
        let family = format!("code-{round}");
        let code = CodeRecord {
            code_hash: family.clone(),
            client_id: "app".into(),
            user_id: alice.id,
            redirect_uri: "https://app.example/cb".into(),
            scopes: vec!["openid".into(), "offline_access".into()],
            nonce: None,
            code_challenge: None,
            auth_time: at(0),
            amr: vec!["pwd".into()],
            expires_at: at(60),
        };
        store.insert_code(&code, at(0)).await.unwrap();
        let (first_access, first) = (access(format!("a-{round}-0"), &family), refresh(format!("r-{round}-0"), &family));
        let issued = Issued { access: &first_access, refresh: Some(&first) };
        store.spend_code(&family, "app", at(1), Some(issued)).await.unwrap();

        let spender = {
            let (store, family) = (store.clone(), family.clone());
            let (next_access, next) =
                (access(format!("a-{round}-1"), &family), refresh(format!("r-{round}-1"), &family));
            tokio::spawn(async move {
                let issued = Issued { access: &next_access, refresh: Some(&next) };
                store.spend_refresh_token(&format!("r-{round}-0"), "app", at(2), Some(issued)).await.unwrap();
            })
        };
        let revoker = {
            let store = store.clone();
            tokio::spawn(async move { store.revoke_token(&format!("r-{round}-0"), "app").await.unwrap() })
        };
        spender.await.unwrap();
        assert_eq!(revoker.await.unwrap(), Some(alice.id), "round {round}: the revocation ended the grant");
        assert!(
            store.find_refresh_token(&format!("r-{round}-1"), "app", at(3)).await.unwrap().is_none(),
            "round {round}"
        );
        assert!(store.find_access_token(&format!("a-{round}-1"), at(3)).await.unwrap().is_none(), "round {round}");
    }
}
