-- Groups of users, for access rules (forward authentication) and the
-- `groups` claim. Names follow the username rules (folded, no commas), so a
-- user's groups read back as one comma-joined column of the user's row.
CREATE TABLE user_groups (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES user_groups (name) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (group_name, user_id)
);

CREATE INDEX group_members_by_user ON group_members (user_id);
