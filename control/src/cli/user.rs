//! `vchat user add`: makes a user (the first admin) in the store of the data folder;
//! the password comes on standard input.

use anyhow::{Context, bail};

use super::UserAddArgs;
use crate::config::Config;
use crate::model::Role;

/// Creates the user `args` describe.
pub fn add(config: Config, args: &UserAddArgs) -> anyhow::Result<()> {
    let role = match args.role.as_str() {
        "admin" => Role::Admin,
        "supervisor" => Role::Supervisor,
        "agent" => Role::Agent,
        other => bail!("--role must be admin, supervisor or agent, not {other:?}"),
    };
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    let user = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
            let store = crate::store::open(&config.store, &config.data_dir)
                .await
                .context("cannot open the store")?;
            crate::domain::users::add(
                &store,
                &args.login,
                args.name.as_deref(),
                role,
                &args.tenant,
                password,
            )
            .await
        })?;
    println!(
        "created {} {} (id {}) in tenant {}",
        user.role.as_str(),
        user.login,
        user.id,
        user.tenant
    );
    Ok(())
}
