//! Targets: the identity providers that took a user. The first take is recorded, a repeat
//! (a provider's retry) changes nothing, and only a stored user can be taken.

use chrono::Utc;
use usher_core::UserId;
use usher_store::Store;

use crate::data::{chunk, users};

pub async fn a_target_takes_a_user_once(store: &dyn Store) {
    store.migrate().await.unwrap();
    let written = users(1, 3);
    let (a, b) = (written[0].user.id, written[1].user.id);
    store.write_chunk(&chunk(0, written, vec![])).await.unwrap();
    assert!(store.target_counts().await.unwrap().is_empty());

    let now = Utc::now();
    assert!(store.record_target(a, "okta", now).await.unwrap());
    // Okta retries its hook once: the second answer records nothing new.
    assert!(!store.record_target(a, "okta", now).await.unwrap());
    assert!(store.record_target(a, "auth0", now).await.unwrap());
    assert!(store.record_target(b, "okta", now).await.unwrap());

    let counts = store.target_counts().await.unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        vec![("auth0".to_owned(), 1), ("okta".to_owned(), 2)]
    );
    assert_eq!(store.targets_of(a).await.unwrap(), ["auth0", "okta"]);
    assert_eq!(store.targets_of(b).await.unwrap(), ["okta"]);
    assert!(store.targets_of(UserId::new()).await.unwrap().is_empty());
    // Nobody: the store refuses a target for a user it does not hold.
    assert!(
        store
            .record_target(UserId::new(), "okta", now)
            .await
            .is_err()
    );
}
