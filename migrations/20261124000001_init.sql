-- Vigil schema, MariaDB 10.6+.
-- Ownership (a service reads and writes only its own tables; others ask it over NATS):
--   gateway:   tenants, users, refresh_tokens, agent_tokens
--   collector: hosts, metrics_host, metrics_container, metrics_service, metrics_host_hourly
--   alerter:   alerts, alerts_history, alert_rules, notification_channels
--   actioner:  actions_log
-- Times are UTC.

CREATE TABLE tenants (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE users (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    email VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role ENUM('admin', 'viewer') NOT NULL DEFAULT 'viewer',
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_email (email),
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Refresh tokens are stored hashed (SHA-256 hex); logout sets revoked_at.
CREATE TABLE refresh_tokens (
    token_hash CHAR(64) PRIMARY KEY,
    user_id VARCHAR(50) NOT NULL,
    tenant_id VARCHAR(50) NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at DATETIME NOT NULL,
    revoked_at DATETIME NULL,
    INDEX idx_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Agent tokens: shown once at creation, stored as SHA-256 hex; `id` names a
-- token for listing and revocation without revealing its hash.
CREATE TABLE agent_tokens (
    token_hash VARCHAR(64) PRIMARY KEY,
    id VARCHAR(50) NOT NULL,
    tenant_id VARCHAR(50) NOT NULL,
    host_id VARCHAR(50),
    name VARCHAR(100),
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    expires_at DATETIME,
    last_used DATETIME,
    revoked_at DATETIME NULL,
    UNIQUE KEY uq_id (id),
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- machine_id makes Register idempotent: the same machine of the same tenant
-- gets the same host id back.
CREATE TABLE hosts (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    hostname VARCHAR(255),
    machine_id VARCHAR(64),
    ip_address VARCHAR(45),
    os VARCHAR(100),
    arch VARCHAR(20),
    agent_version VARCHAR(20),
    status ENUM('online', 'offline', 'degraded') NOT NULL DEFAULT 'offline',
    last_seen DATETIME(3),
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    config JSON,
    UNIQUE KEY uq_tenant_machine (tenant_id, machine_id),
    INDEX idx_tenant (tenant_id),
    INDEX idx_status (tenant_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Key changed from the seed's (id AUTO_INCREMENT, timestamp): the natural key
-- (host_id, timestamp) makes a redelivered snapshot's insert a no-op and makes
-- a per-host range read a clustered primary-key range scan. Daily partitions
-- (pYYYYMMDD) are created ahead by the collector; p_future catches the rest.
CREATE TABLE metrics_host (
    host_id VARCHAR(50) NOT NULL,
    timestamp DATETIME(3) NOT NULL,
    uptime BIGINT UNSIGNED,
    cpu_percent DECIMAL(5,2),
    cpu_cores SMALLINT UNSIGNED,
    memory_used BIGINT UNSIGNED,
    memory_total BIGINT UNSIGNED,
    memory_available BIGINT UNSIGNED,
    swap_used BIGINT UNSIGNED,
    swap_total BIGINT UNSIGNED,
    disk_used BIGINT UNSIGNED,
    disk_total BIGINT UNSIGNED,
    load_1m DECIMAL(8,2),
    load_5m DECIMAL(8,2),
    load_15m DECIMAL(8,2),
    network_rx BIGINT UNSIGNED,
    network_tx BIGINT UNSIGNED,
    per_core JSON,
    mounts JSON,
    interfaces JSON,
    PRIMARY KEY (host_id, timestamp)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
PARTITION BY RANGE (TO_DAYS(timestamp)) (
    PARTITION p_past VALUES LESS THAN (TO_DAYS('2026-01-01')),
    PARTITION p_future VALUES LESS THAN MAXVALUE
);

CREATE TABLE metrics_container (
    host_id VARCHAR(50) NOT NULL,
    container_name VARCHAR(100) NOT NULL,
    timestamp DATETIME(3) NOT NULL,
    runtime VARCHAR(20),
    status VARCHAR(20),
    image VARCHAR(255),
    cpu_percent DECIMAL(6,2),
    memory_used BIGINT UNSIGNED,
    memory_limit BIGINT UNSIGNED,
    disk_used BIGINT UNSIGNED,
    network_rx BIGINT UNSIGNED,
    network_tx BIGINT UNSIGNED,
    processes INT UNSIGNED,
    PRIMARY KEY (host_id, container_name, timestamp)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
PARTITION BY RANGE (TO_DAYS(timestamp)) (
    PARTITION p_past VALUES LESS THAN (TO_DAYS('2026-01-01')),
    PARTITION p_future VALUES LESS THAN MAXVALUE
);

CREATE TABLE metrics_service (
    host_id VARCHAR(50) NOT NULL,
    service_name VARCHAR(100) NOT NULL,
    timestamp DATETIME(3) NOT NULL,
    status VARCHAR(20),
    pid INT UNSIGNED,
    memory_used BIGINT UNSIGNED,
    cpu_percent DECIMAL(6,2),
    ports JSON,
    uptime BIGINT UNSIGNED,
    PRIMARY KEY (host_id, service_name, timestamp)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
PARTITION BY RANGE (TO_DAYS(timestamp)) (
    PARTITION p_past VALUES LESS THAN (TO_DAYS('2026-01-01')),
    PARTITION p_future VALUES LESS THAN MAXVALUE
);

CREATE TABLE metrics_host_hourly (
    host_id VARCHAR(50) NOT NULL,
    hour DATETIME NOT NULL,
    cpu_avg DECIMAL(5,2),
    cpu_max DECIMAL(5,2),
    memory_avg BIGINT,
    memory_max BIGINT,
    disk_avg BIGINT,
    network_rx_total BIGINT,
    network_tx_total BIGINT,
    PRIMARY KEY (host_id, hour),
    INDEX idx_hour (hour)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE alerts (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    host_id VARCHAR(50),
    container_name VARCHAR(100),
    service_name VARCHAR(100),
    rule_id VARCHAR(50) NOT NULL,
    severity ENUM('info', 'warning', 'critical') NOT NULL,
    status ENUM('firing', 'acknowledged', 'resolved') DEFAULT 'firing',
    message TEXT,
    value VARCHAR(50),
    fired_at DATETIME NOT NULL,
    acknowledged_at DATETIME,
    acknowledged_by VARCHAR(100),
    resolved_at DATETIME,
    INDEX idx_tenant_status (tenant_id, status),
    INDEX idx_host (host_id),
    INDEX idx_fired (fired_at DESC)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE alerts_history (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    alert_id VARCHAR(50) NOT NULL,
    tenant_id VARCHAR(50) NOT NULL,
    host_id VARCHAR(50),
    rule_id VARCHAR(50) NOT NULL,
    severity ENUM('info', 'warning', 'critical') NOT NULL,
    message TEXT,
    fired_at DATETIME NOT NULL,
    resolved_at DATETIME,
    duration_seconds INT,
    INDEX idx_tenant_time (tenant_id, fired_at DESC)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE alert_rules (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    `condition` TEXT NOT NULL,
    duration_seconds INT DEFAULT 60,
    severity ENUM('info', 'warning', 'critical') NOT NULL,
    channels JSON NOT NULL,
    message_template TEXT,
    enabled BOOLEAN DEFAULT TRUE,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME ON UPDATE CURRENT_TIMESTAMP,
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE notification_channels (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) NOT NULL,
    type ENUM('email', 'slack', 'webhook', 'pagerduty') NOT NULL,
    config JSON NOT NULL,
    enabled BOOLEAN DEFAULT TRUE,
    INDEX idx_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE actions_log (
    id VARCHAR(50) PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    host_id VARCHAR(50) NOT NULL,
    user_id VARCHAR(50),
    action_type VARCHAR(50) NOT NULL,
    params JSON,
    status ENUM('pending', 'running', 'success', 'failed') DEFAULT 'pending',
    output TEXT,
    error TEXT,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    completed_at DATETIME,
    INDEX idx_tenant (tenant_id),
    INDEX idx_host (host_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
