-- Remote actions. The actioner owns actions_log; the collector owns hosts
-- (action_policy: what the host's agent allows, as it last registered);
-- the gateway owns users (the operator role: may act, may not administer).
--
-- actions_log was created by the first migration and never written; it is
-- replaced by the shape the actioner needs. A row is written (pending,
-- signed) before its order is published, and only moves forward: pending ->
-- running -> success | failed, or pending -> expired | denied; a result that
-- arrives for an expired row still records what ran (the agent decides).

DROP TABLE actions_log;

CREATE TABLE actions_log (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    host_id VARCHAR(50) NOT NULL,
    user_id VARCHAR(50) NULL,
    -- a user's email, or scenario:<id>
    requested_by VARCHAR(255) NOT NULL,
    action_type VARCHAR(50) NOT NULL,
    params JSON NOT NULL,
    status ENUM('pending', 'running', 'success', 'failed', 'expired', 'denied') NOT NULL DEFAULT 'pending',
    -- the canonical command line and the rule that decided, as the agent reported them
    command TEXT NULL,
    rule TEXT NULL,
    exit_code INT NULL,
    -- at most 64 KiB of output (MEDIUMTEXT: 64 KiB of characters may exceed TEXT's bytes)
    output MEDIUMTEXT NULL,
    truncated BOOLEAN NOT NULL DEFAULT FALSE,
    error TEXT NULL,
    timeout_seconds INT UNSIGNED NOT NULL,
    -- the order as signed: the signature is re-sent with it to an agent that reconnects
    signature VARCHAR(100) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    expires_at DATETIME(3) NOT NULL,
    dispatched_at DATETIME(3) NULL,
    started_at DATETIME(3) NULL,
    completed_at DATETIME(3) NULL,
    duration_ms BIGINT UNSIGNED NULL,
    -- a requester's key (a scenario step): the same key twice is one action
    idempotency_key VARCHAR(120) NULL,
    UNIQUE KEY uq_idempotency (tenant_id, idempotency_key),
    INDEX idx_tenant_created (tenant_id, created_at, id),
    INDEX idx_host_status (host_id, status),
    INDEX idx_status_expires (status, expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

ALTER TABLE hosts ADD COLUMN action_policy JSON NULL;

ALTER TABLE users MODIFY role ENUM('admin', 'operator', 'viewer') NOT NULL DEFAULT 'viewer';
