-- Inventory: what the server keeps of the containers, services and custom
-- metrics of each snapshot. Owner: collector (metrics_container,
-- metrics_service, metrics_custom).
--
-- * metrics_container gains the container's creation time as the runtime
--   reports it and its memory percent (both carried by every snapshot).
-- * (host_id, timestamp) indexes: "the containers / services of a host's
--   latest snapshot" is an index lookup on that snapshot's time instead of a
--   scan of the host's whole history (the primary keys lead with the name).
-- * metrics_custom: one row per custom metric per snapshot; the natural key
--   (host_id, name, timestamp) makes a redelivered snapshot's insert a no-op.
--   Partitioned by day like metrics_host; the collector keeps its partitions.
--   `name` compares case-sensitively (two metrics differing by case are two).

ALTER TABLE metrics_container
    ADD COLUMN created VARCHAR(64) NULL AFTER image,
    ADD COLUMN memory_percent DECIMAL(6,2) NULL AFTER memory_limit,
    ADD INDEX idx_host_time (host_id, timestamp);

ALTER TABLE metrics_service
    ADD INDEX idx_host_time (host_id, timestamp);

CREATE TABLE metrics_custom (
    host_id VARCHAR(50) NOT NULL,
    name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    timestamp DATETIME(3) NOT NULL,
    type VARCHAR(10) NOT NULL,
    value DOUBLE NOT NULL,
    error VARCHAR(1000) NULL,
    PRIMARY KEY (host_id, name, timestamp),
    INDEX idx_host_time (host_id, timestamp)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
PARTITION BY RANGE (TO_DAYS(timestamp)) (
    PARTITION p_past VALUES LESS THAN (TO_DAYS('2026-01-01')),
    PARTITION p_future VALUES LESS THAN MAXVALUE
);
