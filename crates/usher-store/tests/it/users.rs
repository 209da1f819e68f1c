//! Users read in id order, in keyset pages, each with its legacy links: what an export
//! streams and resumes from.

use futures::TryStreamExt as _;
use usher_store::Store;

use crate::data::{chunk, users};

pub async fn users_page_through_in_id_order_with_their_links(store: &dyn Store) {
    store.migrate().await.unwrap();
    assert!(store.users_page(None, 10).await.unwrap().is_empty());
    store
        .write_chunk(&chunk(0, users(1, 26), vec![]))
        .await
        .unwrap();
    let all: Vec<_> = store.users(None, 7).try_collect().await.unwrap();
    assert_eq!(all.len(), 25);
    let ids: Vec<_> = all.iter().map(|u| u.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "in id order, each once");
    for user in &all {
        let stored = store.user(user.id).await.unwrap().unwrap();
        assert_eq!(user, &stored, "a page's user is the user as read alone");
        assert_eq!(user.legacy_links.len(), 1, "{:?}", user.legacy_links);
    }
    // A page after the tenth resumes at the eleventh.
    let rest = store.users_page(Some(ids[9]), 100).await.unwrap();
    assert_eq!(rest.len(), 15);
    assert_eq!(rest[0].id, ids[10]);
    assert!(
        store
            .users_page(Some(ids[24]), 100)
            .await
            .unwrap()
            .is_empty()
    );
}
