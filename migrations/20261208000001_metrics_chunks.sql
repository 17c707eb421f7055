-- Owner: collector. Compacted raw metrics (see services/collector/src/compact.rs
-- and chunk.rs): one row per host and UTC hour holding every snapshot of that
-- hour (host, containers, services, custom metrics) as one compressed,
-- columnar value. The collector folds each complete hour of the raw tables
-- (metrics_host, metrics_container, metrics_service, metrics_custom) into
-- it and deletes the folded raw rows, keeping each host's newest snapshot
-- (and each custom metric's newest point) raw. Readers merge both.
-- `snapshots` is how many the chunk holds; `data` is chunk.rs's format.
-- Partitioned by day like the raw tables; the raw retention drops them.
-- An existing database converts in place: its raw rows are folded by the
-- collector's first compaction run after this migration.
-- PAGE_COMPRESSED: a chunk is already compressed, but InnoDB stores a long
-- BLOB in whole 16 KiB pages; page compression punches the unused tail of
-- each page out of the file (measured: an 8 KB chunk takes 16.8 KB on disk
-- without it, 8.2 KB with it; a 30 KB chunk 37.7 KB and 32.8 KB). Where the
-- filesystem cannot punch holes it only costs a little CPU.
CREATE TABLE metrics_chunk (
    host_id VARCHAR(50) NOT NULL,
    hour DATETIME NOT NULL,
    snapshots INT UNSIGNED NOT NULL,
    data LONGBLOB NOT NULL,
    PRIMARY KEY (host_id, hour)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 PAGE_COMPRESSED=1
PARTITION BY RANGE (TO_DAYS(hour)) (
    PARTITION p_past VALUES LESS THAN (TO_DAYS('2026-01-01')),
    PARTITION p_future VALUES LESS THAN MAXVALUE
);
