-- Alerting: the alerter owns every table here. The seed's four alert tables
-- were created empty by the first migration and never written; they are
-- replaced by the shapes the alerter needs.
--
-- State lives here and nowhere else, so any alerter instance can take over
-- from another: alert_hosts rows are the per-host lock (SELECT ... FOR
-- UPDATE, in host id order) under which a host's snapshots and events are
-- evaluated; alert_instances holds every instance that is not ok;
-- alert_outbox is written in the same transaction as the state change it
-- notifies.

DROP TABLE alerts, alerts_history, alert_rules, notification_channels;

-- One row per tenant the alerter has seen: default rules are created once
-- (when the row is inserted); config_version changes with every change of
-- the tenant's rules, channels, silences or maintenance windows, so every
-- alerter reloads its cached copy.
CREATE TABLE alert_tenants (
    tenant_id VARCHAR(50) PRIMARY KEY,
    seeded_at DATETIME(3) NOT NULL,
    config_version BIGINT UNSIGNED NOT NULL DEFAULT 1
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE alert_rules (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    description TEXT NOT NULL,
    `condition` TEXT NOT NULL,
    -- hysteresis: a threshold, or a condition (at most one is set)
    clear_threshold DOUBLE NULL,
    clear_condition TEXT NULL,
    duration_seconds INT UNSIGNED NOT NULL DEFAULT 60,
    severity ENUM('info', 'warning', 'critical') NOT NULL,
    -- channel ids; empty: every enabled channel of the tenant
    channels JSON NOT NULL,
    message_template TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- NULL: the default (4 h); 0: never repeat
    repeat_interval_seconds INT UNSIGNED NULL,
    -- 'host_offline' for the built-in rule driven by host events
    builtin VARCHAR(30) NULL,
    created_at DATETIME(3) NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The per-host evaluation lock and what the next snapshot needs.
CREATE TABLE alert_hosts (
    host_id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    -- collection time of the newest snapshot evaluated; older ones are skipped
    evaluated_at DATETIME(3) NULL,
    online BOOLEAN NOT NULL DEFAULT TRUE,
    -- network counters of that snapshot (rates)
    rx_bytes BIGINT UNSIGNED NULL,
    tx_bytes BIGINT UNSIGNED NULL,
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every instance (rule x host x mount/container/service) that is pending or
-- firing; an instance that is ok has no row.
CREATE TABLE alert_instances (
    fingerprint CHAR(32) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    rule_id VARCHAR(50) NOT NULL,
    host_id VARCHAR(50) NOT NULL,
    -- the mount, container or service; '' for a host-scoped rule
    label VARCHAR(255) NOT NULL,
    state ENUM('pending', 'firing') NOT NULL,
    -- when the condition became true (duration counts from here)
    pending_since DATETIME(3) NOT NULL,
    -- when the item (container, service, mount) was first missing from a snapshot
    missing_since DATETIME(3) NULL,
    -- the firing alert
    alert_id VARCHAR(50) NULL,
    INDEX idx_host (host_id),
    INDEX idx_rule (tenant_id, rule_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Active alerts (firing or acknowledged); a resolved alert moves to alerts_history.
CREATE TABLE alerts (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    host_id VARCHAR(50) NOT NULL,
    host_name VARCHAR(100) NOT NULL,
    mount VARCHAR(255) NULL,
    container_name VARCHAR(100) NULL,
    service_name VARCHAR(100) NULL,
    rule_id VARCHAR(50) NOT NULL,
    rule_name VARCHAR(100) NOT NULL,
    severity ENUM('info', 'warning', 'critical') NOT NULL,
    status ENUM('firing', 'acknowledged', 'resolved') NOT NULL DEFAULT 'firing',
    message TEXT NOT NULL,
    value VARCHAR(100) NULL,
    fingerprint CHAR(32) NOT NULL,
    -- a silence or maintenance window held its notification back
    silenced BOOLEAN NOT NULL DEFAULT FALSE,
    -- its firing notification was queued (false while silenced)
    notified BOOLEAN NOT NULL DEFAULT FALSE,
    -- the channel ids it was notified to (its resolve goes to the same)
    notified_channels JSON NULL,
    -- when a firing, unacknowledged alert is notified again (NULL: never)
    next_repeat_at DATETIME(3) NULL,
    fired_at DATETIME(3) NOT NULL,
    acknowledged_at DATETIME(3) NULL,
    acknowledged_by VARCHAR(255) NULL,
    INDEX idx_tenant_status (tenant_id, status),
    INDEX idx_host (host_id),
    INDEX idx_fired (tenant_id, fired_at),
    INDEX idx_repeat (next_repeat_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE alerts_history (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    alert_id VARCHAR(50) NOT NULL,
    tenant_id VARCHAR(50) NOT NULL,
    host_id VARCHAR(50) NOT NULL,
    host_name VARCHAR(100) NOT NULL,
    mount VARCHAR(255) NULL,
    container_name VARCHAR(100) NULL,
    service_name VARCHAR(100) NULL,
    rule_id VARCHAR(50) NOT NULL,
    rule_name VARCHAR(100) NOT NULL,
    severity ENUM('info', 'warning', 'critical') NOT NULL,
    message TEXT NOT NULL,
    value VARCHAR(100) NULL,
    fingerprint CHAR(32) NOT NULL,
    silenced BOOLEAN NOT NULL,
    fired_at DATETIME(3) NOT NULL,
    acknowledged_at DATETIME(3) NULL,
    acknowledged_by VARCHAR(255) NULL,
    resolved_at DATETIME(3) NOT NULL,
    duration_seconds INT UNSIGNED NOT NULL,
    UNIQUE KEY uq_alert (alert_id),
    INDEX idx_tenant_time (tenant_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE notification_channels (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    type VARCHAR(20) NOT NULL,
    -- {"type": ..., "config": {...}} with its secrets
    config JSON NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(3) NOT NULL,
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE alert_silences (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    -- AlertMatcher as JSON
    matcher JSON NOT NULL,
    starts_at DATETIME(3) NOT NULL,
    ends_at DATETIME(3) NOT NULL,
    comment TEXT NOT NULL,
    created_by VARCHAR(255) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    INDEX idx_tenant (tenant_id, ends_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE alert_maintenance (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    host_id VARCHAR(50) NULL,
    schedule VARCHAR(200) NOT NULL,
    duration_seconds INT UNSIGNED NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    comment TEXT NOT NULL,
    created_by VARCHAR(255) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- What is to be sent: a notification to a channel, or an alert event to the
-- bus (channel_id NULL). Written in the transaction of the state change;
-- an alerter claims due rows for a while (claimed_until), sends, then marks
-- them sent or due again with a backoff.
CREATE TABLE alert_outbox (
    -- order of writing: a row is sent only after the earlier rows of its
    -- alert and channel (fired before resolved)
    seq BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    id VARCHAR(50) NOT NULL,
    tenant_id VARCHAR(50) NOT NULL,
    alert_id VARCHAR(50) NOT NULL,
    channel_id VARCHAR(50) NULL,
    event VARCHAR(20) NOT NULL,
    -- the Notification (channel) or AlertEvent (bus) as JSON
    payload JSON NOT NULL,
    state ENUM('pending', 'sent', 'failed') NOT NULL DEFAULT 'pending',
    attempts INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3) NOT NULL,
    claimed_until DATETIME(3) NULL,
    claim VARCHAR(50) NULL,
    created_at DATETIME(3) NOT NULL,
    sent_at DATETIME(3) NULL,
    last_error TEXT NULL,
    UNIQUE KEY uq_id (id),
    INDEX idx_due (state, next_attempt_at),
    INDEX idx_claim (claim),
    INDEX idx_alert (alert_id, channel_id, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every delivery attempt of an outbox row.
CREATE TABLE notification_attempts (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    outbox_id VARCHAR(50) NOT NULL,
    tenant_id VARCHAR(50) NOT NULL,
    channel_id VARCHAR(50) NULL,
    attempt INT UNSIGNED NOT NULL,
    at DATETIME(3) NOT NULL,
    status_code SMALLINT UNSIGNED NULL,
    error TEXT NULL,
    duration_ms INT UNSIGNED NOT NULL,
    INDEX idx_outbox (outbox_id),
    INDEX idx_tenant (tenant_id, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
