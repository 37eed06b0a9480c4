-- The `latchkey serve` processes using this store, each refreshed every few
-- seconds while it runs and removed when it stops, so that `latchkey key
-- rotate` can refuse (and name them) while any process holds the old key.
CREATE TABLE serving_processes (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    listen TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
