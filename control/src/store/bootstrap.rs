//! What a fresh store needs before anyone can log in.

use crate::model::Tenant;
use crate::model::tenant::{Branding, ROOT};
use crate::store::ids::now_ms;
use crate::store::{Store, StoreError, StoreResult};

/// Creates the root tenant if it is not there.
pub async fn root_tenant(store: &Store) -> StoreResult<()> {
    if store.get::<Tenant>(ROOT).await?.is_some() {
        return Ok(());
    }
    let root = Tenant {
        id: ROOT.into(),
        parent: None,
        name: "vchat".into(),
        branding: Branding {
            company_name: "vchat".into(),
            ..Branding::default()
        },
        custom_fields: Vec::new(),
        delivery_chain: Vec::new(),
        language: Default::default(),
        survey: Default::default(),
        geolocation_on_connect: false,
        created_at: now_ms(),
    };
    match store.insert(&root).await {
        // Another process (the CLI) made it at the same moment.
        Ok(()) | Err(StoreError::Duplicate { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
