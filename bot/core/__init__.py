"""The bottom layer: what every other package may use, and nothing else.

Owns configuration (`settings`: every environment variable, typed and checked once), the errors
a member may see (`errors.UserError` and its kinds), logging with secrets blanked (`logs`), the
Prometheus counters every layer records into (`metrics`) and what every background loop shares
(`loops`: riding out an outage, stopping). It imports nothing from `bot`;
anything that needs Discord state, the database or the Producer API belongs higher up.
"""
