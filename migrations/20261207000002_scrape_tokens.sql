-- Scrape tokens: what Prometheus sends (`Authorization: Bearer vgs_...`) to
-- read a tenant's latest metrics at GET /api/metrics/prometheus. Owner:
-- gateway. Like agent tokens: shown once at creation, stored as SHA-256 hex,
-- bound to one tenant; `id` names a token for listing and revocation without
-- revealing its hash; revocation sets `revoked_at` and is final.

CREATE TABLE scrape_tokens (
    token_hash CHAR(64) PRIMARY KEY,
    id VARCHAR(50) NOT NULL,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used DATETIME NULL,
    revoked_at DATETIME NULL,
    UNIQUE KEY uq_id (id),
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
