//! Users. Admins manage the users of their scope; supervisors read them; everyone
//! reads and edits (name, password) themselves.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::auth::{Caller, password};
use crate::domain::fields::{LoginName, Password, Text};
use crate::domain::paging::{Page, Paging};
use crate::domain::{DomainError, DomainResult, service};
use crate::model::{Role, Tenant, User};
use crate::store::ids::{new_id, now_ms};
use crate::store::{Filter, Store, StoreError, bootstrap};

service!(
    /// Users of the tenants.
    Users
);

/// A user as the API shows them (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Login.
    pub login: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Disabled.
    pub disabled: bool,
    /// Unix ms.
    pub created_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        UserView {
            id: u.id.clone(),
            tenant: u.tenant.clone(),
            login: u.login.clone(),
            name: u.name.clone(),
            role: u.role,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// `POST /api/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Tenant (default: the caller's).
    pub tenant: Option<String>,
    /// Login (kept in small letters).
    pub login: LoginName,
    /// Name.
    pub name: Text<100>,
    /// Role.
    pub role: Role,
    /// Password.
    pub password: Password,
}

/// `PATCH /api/users/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Name.
    pub name: Option<Text<100>>,
    /// Password.
    pub password: Option<Password>,
    /// Role (admins only).
    pub role: Option<Role>,
    /// Disabled (admins only; nobody disables themselves).
    pub disabled: Option<bool>,
}

/// `GET /api/users?role=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Only this role.
    pub role: Option<Role>,
}

async fn hash(password: Password) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || password::hash(password.as_str()))
        .await
        .map_err(|_| DomainError::invalid("cannot hash the password"))
}

impl Users {
    async fn visible(&self, caller: &Caller, id: &str) -> DomainResult<User> {
        match self.0.store.get::<User>(id).await? {
            Some(u)
                if caller.sees(&u.tenant)
                    && (u.id == caller.user || caller.is(Role::Supervisor)) =>
            {
                Ok(u)
            }
            _ => Err(DomainError::not_found("user")),
        }
    }

    /// Users of the caller's scope (supervisors and admins).
    pub async fn list(
        &self,
        caller: &Caller,
        q: UserQuery,
        paging: Paging,
    ) -> DomainResult<Page<UserView>> {
        caller.require(Role::Supervisor)?;
        let mut filter = Filter::<User>::all().tenants(caller.scope.clone());
        if let Some(role) = q.role {
            filter = filter.eq(User::ROLE, role.as_str());
        }
        let total = self.0.store.count(&filter).await?;
        let users = self
            .0
            .store
            .find(&filter.page(paging.offset, paging.limit))
            .await?;
        Ok(paging.of(users.iter().map(UserView::from).collect(), total))
    }

    /// One user: oneself, or (supervisors and admins) one of the scope.
    pub async fn get(&self, caller: &Caller, id: &str) -> DomainResult<UserView> {
        Ok(UserView::from(&self.visible(caller, id).await?))
    }

    /// Creates a user in a tenant of the caller's scope (admins).
    pub async fn create(&self, caller: &Caller, request: NewUser) -> DomainResult<UserView> {
        let tenant = request.tenant.unwrap_or_else(|| caller.tenant.clone());
        if !caller.sees(&tenant) {
            return Err(DomainError::not_found("tenant"));
        }
        caller.require(Role::Admin)?;
        let user = User {
            id: new_id(),
            tenant,
            login: request.login.normalized(),
            name: request.name.into_string(),
            role: request.role,
            password_hash: hash(request.password).await?,
            disabled: false,
            created_at: now_ms(),
        };
        self.0.store.insert(&user).await.map_err(|e| match e {
            StoreError::Duplicate { .. } => DomainError::conflict("this login is taken"),
            e => e.into(),
        })?;
        Ok(UserView::from(&user))
    }

    /// Changes a user: admins change anyone in scope; others only their own name and
    /// password.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        patch: UserPatch,
    ) -> DomainResult<UserView> {
        let target = self.visible(caller, id).await?;
        let own = target.id == caller.user;
        if !own || patch.role.is_some() || patch.disabled.is_some() {
            caller.require(Role::Admin)?;
        }
        if own && patch.disabled == Some(true) {
            return Err(DomainError::invalid("you cannot disable yourself"));
        }
        let new_hash = match patch.password {
            Some(pw) => Some(hash(pw).await?),
            None => None,
        };
        let name = patch.name.map(Text::into_string);
        let (role, disabled) = (patch.role, patch.disabled);
        self.0
            .store
            .update::<User, _, DomainError, _>(id, move |u| {
                if let Some(name) = &name {
                    u.name = name.clone();
                }
                if let Some(h) = &new_hash {
                    u.password_hash = h.clone();
                }
                if let Some(role) = role {
                    u.role = role;
                }
                if let Some(d) = disabled {
                    u.disabled = d;
                }
                Ok(UserView::from(&*u))
            })
            .await?
            .ok_or_else(|| DomainError::not_found("user"))?
    }

    /// Deletes a user of the caller's scope (admins; not themselves).
    pub async fn delete(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let target = self.visible(caller, id).await?;
        caller.require(Role::Admin)?;
        if target.id == caller.user {
            return Err(DomainError::invalid("you cannot delete yourself"));
        }
        self.0.store.delete::<User>(id).await?;
        Ok(())
    }
}

/// `vchat user add`: creates a user in `store` (the first admin, typically).
pub async fn add(
    store: &Store,
    login: &str,
    name: Option<&str>,
    role: Role,
    tenant: &str,
    password_text: &str,
) -> anyhow::Result<User> {
    let login = LoginName::parse(login)
        .map_err(|_| anyhow::anyhow!("--login must be 3 to 64 of a-z, 0-9, '.', '_', '-', '@'"))?
        .normalized();
    Password::parse(password_text)
        .map_err(|e| anyhow::anyhow!("the password on standard input {e}"))?;
    bootstrap::root_tenant(store).await?;
    if store.get::<Tenant>(tenant).await?.is_none() {
        anyhow::bail!("there is no tenant {tenant:?}");
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
        Err(StoreError::Duplicate { .. }) => anyhow::bail!("the login {:?} is taken", user.login),
        Err(e) => Err(e.into()),
    }
}
