"""What a member reads when a contest command refuses or confirms something (private replies).

Kept in one place, with named placeholders, so the sentences are easy to find and translate.
"""

from __future__ import annotations

BAD_MAX_ENTRIES = "`max_entries` must be between 1 and {most}."
CHANNEL_TAKEN = "That channel already has a contest open. See it with `/contest status`."
NOT_POSTED = "I could not post the contest message in that channel, so no contest was started."
SEVERAL_OPEN = "Several contests are open: use this command in the contest's channel."
NONE_OPEN = "There is no contest open. A server manager starts one with `/contest start`."
ENTRIES_CLOSED = "Entries for this contest are closed."
NOT_A_BOT_SONG = "Only songs made with this bot can be entered."
NOT_YOURS = "You can only enter a song you made yourself."
TOO_OLD = "That song was made before this contest started (<t:{started}:f>). Make a new one for the theme!"
CANNOT_SEE = "That song was made in a channel you cannot see."
PRIVATE_CHANNEL = (
    "That song was made in a private channel. Entries are played to the whole server, so enter a "
    "song made where everyone can hear it."
)
ALREADY_ENTERED = "That song is already entered."
MEMBER_FULL_ONE = "You already have 1 entry in this contest, the most allowed. `/contest withdraw` it to enter another."
MEMBER_FULL = (
    "You already have {count} entries in this contest, the most allowed. `/contest withdraw` one to enter another."
)
CONTEST_FULL = "This contest is full ({most} entries)."
WITHDRAW_TOO_LATE = "Voting has started, so entries can no longer be withdrawn."
NOT_YOUR_ENTRY = "That song is not one of your entries in this contest."
VOTING_CLOSED = "Voting for this contest is closed."
JOINED_LATE = (
    "You joined the server after voting started, so you cannot vote in this contest. "
    "That keeps contests fair; you are welcome in the next one!"
)
NOT_AN_ENTRY = "That song is not an entry in this contest."
OWN_SONG = "You cannot vote for your own song."
SAME_VOTE = "You already voted for **{title}**. You can change your vote until the results."
VOTE_IN = "Your vote is in for **{title}**. It stays secret until the results; you can change it until then."
VOTE_CHANGED = "Your vote changed to **{title}**. It stays secret until the results; you can change it until then."
ALREADY_ENDING = "This contest's phase is already ending."
VOTING_STARTS = "Entries are closed; voting starts now."
VOTING_ENDS = "Voting is closed; the results are on their way."
ALREADY_ENDED = "This contest has already ended."
