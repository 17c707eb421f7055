-- Integrators: tenants' own NATS accounts and their users (issue 12 point 4).
-- Owner: gateway (services/gateway/src/integrators.rs).
--
-- nats_accounts: one row per tenant with integrators, made with its first
-- one. `seed` is the account's nkey seed: it signs the tenant's integrator
-- users, and lives here so any gateway can sign and push (the operator seed
-- that signs the account JWT stays in data_dir/nats.keys). `jwt` is the
-- account JWT last pushed to nats-server ($SYS.REQ.CLAIMS.UPDATE).
CREATE TABLE nats_accounts (
    tenant_id VARCHAR(50) PRIMARY KEY,
    public_key CHAR(56) NOT NULL,
    seed VARCHAR(64) NOT NULL,
    jwt TEXT NOT NULL,
    created_at DATETIME(3) NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    UNIQUE KEY uq_public_key (public_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- integrators: the users of those accounts. Their seed is never stored (the
-- creds are shown once); `public_key` is what a revocation names in the
-- account JWT. Revocation sets `revoked_at` and is final.
CREATE TABLE integrators (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    public_key CHAR(56) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    revoked_at DATETIME(3) NULL,
    UNIQUE KEY uq_public_key (public_key),
    INDEX idx_tenant (tenant_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
