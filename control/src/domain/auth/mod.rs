//! Who may do what: credentials to callers, tenant scopes, logins and their limits,
//! sessions, API tokens, join tokens, the server's secrets.

pub mod caller;
pub mod password;
pub mod ratelimit;
pub mod secrets;
pub mod token;

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use caller::{BOOTSTRAP, Caller, SESSION_COOKIE};

use crate::config::Secret;
use crate::domain::fields::Text;
use crate::domain::{DomainError, DomainResult};
use crate::model::tenant::{ROOT, subtree};
use crate::model::{ApiToken, Role, Session, Tenant, TokenScope, User};
use crate::store::ids::{digest, now_ms, random_token};
use crate::store::{Filter, Store};
use ratelimit::LoginLimiter;

/// How long a cached tenant tree is trusted when nothing here changed it (another
/// node sharing the store may have).
const TREE_TTL: Duration = Duration::from_secs(5);

/// What a request presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer <token>`: the bootstrap token, an API token, or (for the
    /// endpoints a call's client may use) a join token.
    Bearer(String),
    /// The session cookie's secret.
    Session(String),
}

/// A session opened by a login.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The user.
    pub user: User,
    /// The cookie's secret (only its digest is stored).
    pub secret: String,
    /// How long the session lasts.
    pub ttl: Duration,
}

/// Resolves credentials to callers, with the tenant tree cached.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

struct Inner {
    store: Store,
    bootstrap: Secret,
    session_ttl: Duration,
    limiter: LoginLimiter,
    tree: RwLock<Tree>,
}

/// The cached tenant tree: when it was read, and the tenant changes it has seen (a
/// read that started before a change does not overwrite what the change forgot).
#[derive(Default)]
struct Tree {
    read: Option<(Instant, Arc<Vec<Tenant>>)>,
    changes: u64,
}

impl Auth {
    /// Callers of `store`; `bootstrap` acts as the root admin.
    pub fn new(
        store: Store,
        bootstrap: Secret,
        session_ttl: Duration,
        logins_per_minute: usize,
    ) -> Auth {
        Auth(Arc::new(Inner {
            store,
            bootstrap,
            session_ttl: session_ttl.max(Duration::from_secs(1)),
            limiter: LoginLimiter::new(logins_per_minute),
            tree: RwLock::new(Tree::default()),
        }))
    }

    /// Whether `token` is the bootstrap token (compared in constant time).
    pub fn is_bootstrap(&self, token: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            token.trim().as_bytes(),
            self.0.bootstrap.expose().as_bytes(),
        )
        .is_ok()
    }

    /// The bootstrap token itself (for the CLI and tests that print it).
    pub fn bootstrap(&self) -> &Secret {
        &self.0.bootstrap
    }

    /// The staff member `credential` belongs to, or `Unauthorized`.
    pub async fn resolve(&self, credential: &Credential) -> DomainResult<Caller> {
        let store = &self.0.store;
        let user = match credential {
            Credential::Bearer(token) if self.is_bootstrap(token) => {
                return Ok(Caller {
                    user: BOOTSTRAP.into(),
                    name: "bootstrap token".into(),
                    tenant: ROOT.into(),
                    role: Role::Admin,
                    scope: self.scope(ROOT).await?,
                });
            }
            Credential::Bearer(token) => {
                let Some(t) = store.get::<ApiToken>(&digest(token)).await? else {
                    return Err(DomainError::Unauthorized);
                };
                // An intercom token logs panels in, nothing else.
                if t.scope != TokenScope::Api {
                    return Err(DomainError::Unauthorized);
                }
                t.user
            }
            Credential::Session(secret) => {
                let Some(s) = store.get::<Session>(&digest(secret)).await? else {
                    return Err(DomainError::Unauthorized);
                };
                if s.expires_at <= now_ms() {
                    return Err(DomainError::Unauthorized);
                }
                s.user
            }
        };
        let Some(user) = store.get::<User>(&user).await? else {
            return Err(DomainError::Unauthorized);
        };
        if user.disabled {
            return Err(DomainError::Unauthorized);
        }
        Ok(Caller {
            scope: self.scope(&user.tenant).await?,
            user: user.id,
            name: user.name,
            tenant: user.tenant,
            role: user.role,
        })
    }

    /// `tenant` and every tenant below it, from the cached tree.
    pub async fn scope(&self, tenant: &str) -> DomainResult<Vec<String>> {
        Ok(subtree(&self.tree().await?, tenant))
    }

    /// Every tenant, nearest the root first; cached until a tenant changes here or
    /// [`TREE_TTL`] passes.
    pub async fn tree(&self) -> DomainResult<Arc<Vec<Tenant>>> {
        let changes = {
            let cached = self.0.tree.read().unwrap_or_else(|p| p.into_inner());
            if let Some((at, tree)) = &cached.read
                && at.elapsed() < TREE_TTL
            {
                return Ok(tree.clone());
            }
            cached.changes
        };
        let started = Instant::now();
        let all = Arc::new(
            self.0
                .store
                .find::<Tenant>(&Filter::all().page(0, 100_000))
                .await?,
        );
        let mut cached = self.0.tree.write().unwrap_or_else(|p| p.into_inner());
        if cached.changes == changes {
            cached.read = Some((started, all.clone()));
        }
        Ok(all)
    }

    /// Forgets the cached tenant tree (a tenant was made or changed).
    pub fn tenants_changed(&self) {
        let mut cached = self.0.tree.write().unwrap_or_else(|p| p.into_inner());
        cached.read = None;
        cached.changes += 1;
    }

    /// Checks `password` for `login` from `ip` and opens a session. Attempts past the
    /// per-address limit are refused before the password is looked at.
    pub async fn login(&self, ip: IpAddr, login: &str, password: String) -> DomainResult<LoggedIn> {
        if let Err(wait) = self.0.limiter.attempt(ip, Instant::now()) {
            return Err(DomainError::TooManyAttempts {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        let login = login.trim().to_lowercase();
        let user = self.0.store.get_unique::<User>(&login).await?;
        let phc = user.as_ref().map_or_else(
            || password::decoy().to_string(),
            |u| u.password_hash.clone(),
        );
        // argon2 takes tens of milliseconds by design: off the async threads.
        let ok = tokio::task::spawn_blocking(move || password::verify(&password, &phc))
            .await
            .unwrap_or(false);
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => return Err(DomainError::BadCredentials),
        };
        let secret = random_token(32);
        let now = now_ms();
        let ttl = self.0.session_ttl;
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.0
            .store
            .insert(&Session {
                id: digest(&secret),
                tenant: user.tenant.clone(),
                user: user.id.clone(),
                created_at: now,
                expires_at: now.saturating_add(ttl_ms),
            })
            .await?;
        Ok(LoggedIn { user, secret, ttl })
    }

    /// Ends the session of `secret` (if there is one).
    pub async fn logout(&self, secret: &str) -> DomainResult<()> {
        self.0.store.delete::<Session>(&digest(secret)).await?;
        Ok(())
    }

    /// Makes an API token that acts as `caller`, for `scope`; the token is shown once.
    /// Intercom tokens are made by admins (who add devices).
    pub async fn create_token(
        &self,
        caller: &Caller,
        label: Text<100>,
        scope: TokenScope,
    ) -> DomainResult<String> {
        if caller.is_bootstrap() {
            return Err(DomainError::Forbidden(
                "the bootstrap token cannot make tokens; log in as a user".into(),
            ));
        }
        if scope == TokenScope::Intercom {
            caller.require(Role::Admin)?;
        }
        let token = format!("vct_{}", random_token(32));
        self.0
            .store
            .insert(&ApiToken {
                id: digest(&token),
                tenant: caller.tenant.clone(),
                user: caller.user.clone(),
                label: label.into_string(),
                created_at: now_ms(),
                scope,
            })
            .await?;
        Ok(token)
    }

    /// The tenants an intercom token may log panels in for: its user's tenant and
    /// those below it, while the user is an enabled admin; `None` for any other token.
    pub async fn intercom_scope(&self, token: &str) -> DomainResult<Option<Vec<String>>> {
        let store = &self.0.store;
        let Some(t) = store.get::<ApiToken>(&digest(token)).await? else {
            return Ok(None);
        };
        if t.scope != TokenScope::Intercom {
            return Ok(None);
        }
        let Some(user) = store.get::<User>(&t.user).await? else {
            return Ok(None);
        };
        if user.disabled || user.role != Role::Admin {
            return Ok(None);
        }
        Ok(Some(self.scope(&user.tenant).await?))
    }

    /// Deletes login sessions past their end (they no longer log anyone in; this keeps
    /// the collection from growing).
    pub async fn forget_expired_sessions(&self) -> DomainResult<()> {
        let expired = self
            .0
            .store
            .find::<Session>(
                &Filter::all()
                    .below(Session::EXPIRES_AT, now_ms())
                    .page(0, 1000),
            )
            .await?;
        for s in expired {
            self.0.store.delete::<Session>(&s.id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tenant::Branding;

    fn tenant(id: &str) -> Tenant {
        Tenant {
            id: id.into(),
            parent: Some(ROOT.into()),
            name: id.into(),
            branding: Branding::default(),
            custom_fields: Vec::new(),
            delivery_chain: Vec::new(),
            language: Default::default(),
            survey: Default::default(),
            geolocation_on_connect: false,
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn the_tenant_tree_is_read_once_until_a_tenant_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(&Default::default(), dir.path())
            .await
            .unwrap();
        crate::store::bootstrap::root_tenant(&store).await.unwrap();
        let auth = Auth::new(
            store.clone(),
            Secret::new("b".repeat(32)),
            Duration::from_secs(60),
            10,
        );
        let first = auth.tree().await.unwrap();
        assert_eq!(first.len(), 1);
        // Written behind the cache's back: the cached tree is still served.
        store.insert(&tenant("a")).await.unwrap();
        let again = auth.tree().await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "no second read");
        // A change through the services forgets it.
        auth.tenants_changed();
        assert_eq!(auth.tree().await.unwrap().len(), 2);
        assert_eq!(auth.scope(ROOT).await.unwrap().len(), 2);
    }
}
