-- issue 25: the server's language for public messages (song posts, status lines, jam and party
-- messages). NULL: the server's preferred locale when the bot speaks it, else English.
ALTER TABLE guild_settings ADD COLUMN language TEXT;
