-- The CPU model an agent reports (`/proc/cpuinfo`), kept per host rather
-- than per point: it changes only when the machine does. Owned by the
-- collector, written when a snapshot brings a model that differs.
ALTER TABLE hosts ADD COLUMN cpu_model VARCHAR(255) NULL AFTER arch;
