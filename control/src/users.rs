//! User management outside the API: `vchat user add` (the first admin).

use anyhow::{Context, bail};

use crate::api::users::check_login;
use crate::auth::password;
use crate::config::Config;
use crate::model::{Role, Tenant, User};
use crate::store::ids::{new_id, now_ms};
use crate::store::{StoreError, bootstrap};

/// Creates a user in the store of `config`'s data folder.
pub async fn add(
    config: &Config,
    login: &str,
    name: Option<&str>,
    role: &str,
    tenant: &str,
    password_text: &str,
) -> anyhow::Result<User> {
    let role = match role {
        "admin" => Role::Admin,
        "supervisor" => Role::Supervisor,
        "agent" => Role::Agent,
        other => bail!("--role must be admin, supervisor or agent, not {other:?}"),
    };
    let login = check_login(login)
        .map_err(|_| anyhow::anyhow!("--login must be 3 to 64 of a-z, 0-9, '.', '_', '-', '@'"))?;
    password::check_new(password_text).context("the password on standard input")?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let store = crate::store::open(&config.store, &config.data_dir)
        .await
        .context("cannot open the store")?;
    bootstrap::root_tenant(&store).await?;
    if store.get::<Tenant>(tenant).await?.is_none() {
        bail!("there is no tenant {tenant:?}");
    }
    let user = User {
        id: new_id(),
        tenant: tenant.to_string(),
        name: name.unwrap_or(&login).to_string(),
        login,
        role,
        password_hash: password::hash(password_text),
        disabled: false,
        created_at: now_ms(),
    };
    match store.insert(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Duplicate { .. }) => bail!("the login {:?} is taken", user.login),
        Err(e) => Err(e.into()),
    }
}
