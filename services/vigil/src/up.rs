//! The first-start bootstrap of `vigil up`: the first tenant and its admin.
//!
//! Invariants: the tenant is ensured on every start (idempotent); the admin is
//! created only when no user has `up.admin_email`, with a random password that
//! is returned exactly once (it is stored only as a hash by the gateway).

use sqlx::MySqlPool;
use vigil_gateway::admin::{self, AdminError, Role};

use crate::config::Config;

/// Length of generated passwords (the gateway's rule, shared with `POST /api/users`).
pub const PASSWORD_LEN: usize = admin::GENERATED_PASSWORD_LEN;

/// What [`bootstrap`] found or did about the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    /// Created now; the password is shown this once.
    Created { email: String, password: String },
    /// A user with that email already existed; nothing changed.
    Exists { email: String },
}

/// A random password of [`PASSWORD_LEN`] letters and digits.
pub fn generate_password() -> String {
    admin::generate_password()
}

/// Ensures `up.tenant` exists and has the admin `up.admin_email`.
pub async fn bootstrap(config: &Config, pool: &MySqlPool) -> Result<AdminOutcome, AdminError> {
    let up = &config.up;
    admin::ensure_tenant(pool, &up.tenant, &up.tenant).await?;
    if admin::user_exists(pool, &up.admin_email).await? {
        return Ok(AdminOutcome::Exists { email: up.admin_email.clone() });
    }
    let password = generate_password();
    admin::add_user(pool, &up.tenant, &up.admin_email, &password, Role::Admin).await?;
    tracing::info!(tenant = %up.tenant, email = %up.admin_email, "created the first admin");
    Ok(AdminOutcome::Created { email: up.admin_email.clone(), password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_distinct() {
        let first = generate_password();
        assert_eq!(first.len(), PASSWORD_LEN);
        assert!(first.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, generate_password());
    }
}
