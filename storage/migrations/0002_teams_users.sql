-- Teams can only open a 1:1 chat with a user's Bot Framework id ("29:..."), which
-- is not in the directory (people are configured by AAD object id). baton learns
-- it from the user's first activity (installing the app, a message) and keeps it
-- here so proactive pages still work after a restart.
CREATE TABLE teams_users (
  aad_object_id TEXT    PRIMARY KEY,
  teams_id      TEXT    NOT NULL,
  updated_ms    INTEGER NOT NULL
) WITHOUT ROWID;

-- The teams and channels baton was added to (conversationUpdate), so an admin can
-- look up the channel ids to configure (GET /api/v1/teams/channels).
CREATE TABLE teams_channels (
  team_id     TEXT    NOT NULL,
  channel_id  TEXT    NOT NULL,
  service_url TEXT    NOT NULL,
  added_ms    INTEGER NOT NULL,
  PRIMARY KEY (team_id, channel_id)
) WITHOUT ROWID;
