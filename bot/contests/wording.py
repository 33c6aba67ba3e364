"""What a member reads when a contest command refuses or confirms something (private replies).

Kept in one place, with named placeholders; each is a catalog message (`N_`): raise
`InvalidInput(wording.X, name=value)` or hand on `Phrase(wording.X, …)`, and it is translated for the member.
"""

from __future__ import annotations

from bot.i18n import N_

BAD_MAX_ENTRIES = N_("`max_entries` must be between 1 and {most}.")
CHANNEL_TAKEN = N_("That channel already has a contest open. See it with `/contest status`.")
NOT_POSTED = N_("I could not post the contest message in that channel, so no contest was started.")
SEVERAL_OPEN = N_("Several contests are open: use this command in the contest's channel.")
NONE_OPEN = N_("There is no contest open. A server manager starts one with `/contest start`.")
ENTRIES_CLOSED = N_("Entries for this contest are closed.")
NOT_A_BOT_SONG = N_("Only songs made with this bot can be entered.")
NOT_YOURS = N_("You can only enter a song you made yourself.")
TOO_OLD = N_("That song was made before this contest started (<t:{started}:f>). Make a new one for the theme!")
CANNOT_SEE = N_("That song was made in a channel you cannot see.")
PRIVATE_CHANNEL = N_(
    "That song was made in a private channel. Entries are played to the whole server, so enter a "
    "song made where everyone can hear it."
)
ALREADY_ENTERED = N_("That song is already entered.")
MEMBER_FULL_ONE = N_(
    "You already have 1 entry in this contest, the most allowed. `/contest withdraw` it to enter another."
)
MEMBER_FULL = N_(
    "You already have {count} entries in this contest, the most allowed. `/contest withdraw` one to enter another."
)
CONTEST_FULL = N_("This contest is full ({most} entries).")
WITHDRAW_TOO_LATE = N_("Voting has started, so entries can no longer be withdrawn.")
NOT_YOUR_ENTRY = N_("That song is not one of your entries in this contest.")
VOTING_CLOSED = N_("Voting for this contest is closed.")
JOINED_LATE = N_(
    "You joined the server after voting started, so you cannot vote in this contest. "
    "That keeps contests fair; you are welcome in the next one!"
)
NOT_AN_ENTRY = N_("That song is not an entry in this contest.")
OWN_SONG = N_("You cannot vote for your own song.")
SAME_VOTE = N_("You already voted for **{title}**. You can change your vote until the results.")
VOTE_IN = N_("Your vote is in for **{title}**. It stays secret until the results; you can change it until then.")
VOTE_CHANGED = N_("Your vote changed to **{title}**. It stays secret until the results; you can change it until then.")
ALREADY_ENDING = N_("This contest's phase is already ending.")
VOTING_STARTS = N_("Entries are closed; voting starts now.")
VOTING_ENDS = N_("Voting is closed; the results are on their way.")
ALREADY_ENDED = N_("This contest has already ended.")
