"""Fakes of the services the bot talks to, served on 127.0.0.1 for the real client code: `FakeDiscord`
(REST API and gateway, fake_discord.py) with its `FakeVoice` (voice websocket and UDP, fake_voice.py),
and `FakeProducer` (the Producer API and its media, fake_producer.py). What each speaks, records and
can be made to fail, and how to extend it, is in tests/README.md, with the helpers built on them.
"""
