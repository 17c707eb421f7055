-- Long history (seed: collect.retention daily: 2y) and tenant settings.
--
-- Owner: collector. Daily aggregates, folded from metrics_host_hourly by the
-- collector's downsampling (services/collector/src/downsample.rs): one row
-- per host and UTC day (`day` is its midnight), averages weighted by the
-- snapshots of each hour. The hourly rows also keep the largest used and
-- total disk bytes of the hour, so a fleet history can show disk usage as a
-- percentage.
CREATE TABLE metrics_host_daily (
    host_id VARCHAR(50) NOT NULL,
    day DATETIME NOT NULL,
    cpu_avg DECIMAL(5,2),
    cpu_max DECIMAL(5,2),
    memory_avg BIGINT UNSIGNED,
    memory_max BIGINT UNSIGNED,
    memory_total BIGINT UNSIGNED,
    disk_avg BIGINT UNSIGNED,
    disk_max BIGINT UNSIGNED,
    disk_total BIGINT UNSIGNED,
    network_rx_total BIGINT UNSIGNED,
    network_tx_total BIGINT UNSIGNED,
    samples INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (host_id, day),
    INDEX idx_day (day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

ALTER TABLE metrics_host_hourly
    ADD COLUMN disk_max BIGINT UNSIGNED NULL AFTER disk_avg,
    ADD COLUMN disk_total BIGINT UNSIGNED NULL AFTER disk_max;

-- Owner: gateway. A tenant's settings (GET/PUT /api/config/tenant): its own
-- retentions in seconds (NULL: the server's collector.retention_*; never
-- more) and the collection interval pushed to its agents (NULL: each
-- agent's own). The collector asks the gateway for the retentions over
-- NATS (vigil.gateway.tenants.retention).
ALTER TABLE tenants
    ADD COLUMN retention_raw_seconds BIGINT UNSIGNED NULL,
    ADD COLUMN retention_hourly_seconds BIGINT UNSIGNED NULL,
    ADD COLUMN retention_daily_seconds BIGINT UNSIGNED NULL,
    ADD COLUMN agent_interval_seconds INT UNSIGNED NULL,
    ADD COLUMN settings_updated_at DATETIME NULL;
