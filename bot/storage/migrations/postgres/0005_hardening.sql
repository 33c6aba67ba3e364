-- Issue 10: a channel can host one jam at a time, not one jam forever. A finished jam is `ended`
-- when the next one starts in its channel; only jams not ended hold their channel.
ALTER TABLE jams DROP CONSTRAINT IF EXISTS jams_channel_id_key;
ALTER TABLE jams DROP CONSTRAINT IF EXISTS jams_state_check;
ALTER TABLE jams ADD CONSTRAINT jams_state_check CHECK (state IN ('open', 'finished', 'ended'));

CREATE UNIQUE INDEX jams_current_in_channel ON jams (channel_id) WHERE state <> 'ended';
