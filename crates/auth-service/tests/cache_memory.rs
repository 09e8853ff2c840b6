//! What one cached API-key owner costs in memory, the map's bookkeeping and the allocator's
//! overhead included: the process's resident size before and after caching 100,000 bot owners
//! of one realm (docs/deploy.md quotes the figure for `cache.capacity` sizing). Its own test
//! binary, so that no other test allocates meanwhile. Linux only (reads /proc/self/statm).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{AuthMethods, BotType, Realm, RealmId, Role, Timestamp, User, UserId};
use auth_service::keys::{KeyId, KeyOwner};
use auth_service::lookup_cache::{CachePolicy, LookupCache};

const ENTRIES: u32 = 100_000;

/// The most one entry may cost. Measured with glibc's allocator: about 360 bytes (the map's
/// slot with the 32-byte digest and the entry inline, the `User` in its `Arc` and its two
/// strings); it was about 740 with moka, whose bookkeeping alone took about 400.
const BUDGET_BYTES: u64 = 420;

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn bot(n: u32, realm: &Arc<Realm>) -> KeyOwner {
    KeyOwner {
        user: Arc::new(User {
            id: UserId(i64::from(n) + 10),
            realm_id: realm.id,
            delivery_email: format!("build-bot-{n}-bot@zulip.example.com"),
            full_name: format!("Build bot {n}"),
            role: Role::Member,
            is_active: true,
            bot_type: Some(BotType::Generic),
            bot_owner_id: Some(UserId(1)),
            password_reset_needed: false,
            external_id: None,
            deactivation: None,
            created_at: Timestamp(1_700_000_000_000_000),
        }),
        realm: realm.clone(),
    }
}

type Load = Pin<Box<dyn Future<Output = Result<Option<KeyOwner>, String>> + Send>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_owner_costs_less_than_the_budget() {
    let Some(before) = resident_bytes() else {
        eprintln!("skipping: no /proc/self/statm");
        return;
    };
    let realm = Arc::new(Realm {
        id: RealmId(1),
        subdomain: "zulip".to_owned(),
        name: "Zulip Dev".to_owned(),
        description: "The Zulip development environment default organization.".to_owned(),
        deactivated: false,
        methods: AuthMethods::default(),
        ldap_auto_create: false,
        created_at: Timestamp(0),
    });
    let cache: LookupCache<KeyId, KeyOwner> = LookupCache::new(&CachePolicy {
        capacity: u64::from(ENTRIES),
        ttl: Duration::from_secs(3600),
        jitter: 0.2,
        negative_ttl: Duration::from_secs(5),
        missing_capacity: u64::from(ENTRIES) / 10 + 1,
    });
    for n in 0..ENTRIES {
        let mut key: KeyId = [0; 32];
        key[..4].copy_from_slice(&n.to_le_bytes());
        key[4..].fill(0x5a);
        let realm = realm.clone();
        let answer = cache
            .get(&key, move || {
                move || -> Load {
                    let owner = bot(n, &realm);
                    Box::pin(async move { Ok(Some(owner)) })
                }
            })
            .await
            .unwrap();
        assert!(answer.value.is_some());
    }
    assert_eq!(
        cache.entry_count(),
        u64::from(ENTRIES),
        "every owner stayed"
    );
    let after = resident_bytes().unwrap();
    let per_entry = after.saturating_sub(before) / u64::from(ENTRIES);
    eprintln!(
        "{ENTRIES} cached owners: {:.1} MB resident more, {per_entry} bytes each",
        after.saturating_sub(before) as f64 / 1e6
    );
    assert!(
        per_entry <= BUDGET_BYTES,
        "{per_entry} bytes per cached owner (budget {BUDGET_BYTES})"
    );
    // The realm is shared, not copied per owner.
    assert_eq!(Arc::strong_count(&realm), ENTRIES as usize + 1);
}
