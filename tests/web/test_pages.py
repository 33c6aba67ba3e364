"""The web gallery over plain HTTP: sign-in and its refusals, who sees what, share links, headers."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.fake_discord import FakeInteraction
from tests.fakes.fake_oauth import FakeOAuth
from tests.harness import VIEW_CHANNEL, World, private_channel, reply_text
from tests.postgres import both_backends
from tests.web.helpers import add_song, client, csrf_of, sign_in, start_web_bot


@both_backends
async def test_a_member_signs_in_and_sees_the_servers_gallery(world: World, oauth: FakeOAuth) -> None:
    """Sign-in lists the server; its gallery shows the song with who made it; no access token is kept."""
    await start_web_bot(world, oauth)
    await add_song(world, "song-rain", title="Rain on Glass")
    async with client() as browser:
        await sign_in(world, oauth, browser, world.member_id)
        async with browser.get(f"{world.webhook_base}/servers") as response:
            assert "Music Lovers" in await response.text()
        async with browser.get(f"{world.webhook_base}/servers/{world.guild_id}") as response:
            page = await response.text()
    assert response.status == 200
    assert "Rain on Glass" in page and "alice" in page
    (token,) = {token for _, token in oauth.api_requests}
    cookie = next(iter(browser.cookie_jar)).value
    assert token not in cookie and "alice" not in cookie  # encrypted, and the token is not in it anyway


async def test_a_forged_state_and_a_replayed_code_are_refused(world: World, oauth: FakeOAuth) -> None:
    """A callback whose state this browser did not make, or with a code used before, signs nobody in."""
    await start_web_bot(world, oauth)
    async with client() as first:
        callback = await sign_in(world, oauth, first, world.member_id)
    used_code = parse_qs(urlsplit(callback).query)["code"][0]
    async with client() as browser:
        async with browser.get(f"{world.webhook_base}/login", allow_redirects=False) as response:
            authorize = response.headers["Location"]
        state = parse_qs(urlsplit(authorize).query)["state"][0]
        base = f"{world.webhook_base}/auth/callback"
        async with browser.get(base, params={"code": used_code, "state": "forged-state"}) as forged:
            assert forged.status == 400
            assert "did not start in this browser" in await forged.text()
        async with browser.get(f"{world.webhook_base}/login", allow_redirects=False) as response:
            state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]
        async with browser.get(base, params={"code": used_code, "state": state}) as replayed:
            assert replayed.status == 400
            assert "did not accept" in await replayed.text()
        async with browser.get(callback) as again:  # the whole first callback, replayed: its state is spent
            assert again.status == 400
        async with browser.get(f"{world.webhook_base}/servers", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"].startswith("/login")


async def test_logout_needs_the_csrf_token(world: World, oauth: FakeOAuth) -> None:
    """A POST without the page's CSRF token is refused and changes nothing; with it, the member is out."""
    await start_web_bot(world, oauth)
    async with client() as browser:
        await sign_in(world, oauth, browser, world.member_id)
        async with browser.get(f"{world.webhook_base}/servers") as response:
            token = csrf_of(await response.text())
        async with browser.post(f"{world.webhook_base}/logout", data={}) as refused:
            assert refused.status == 403
        async with browser.post(f"{world.webhook_base}/logout", data={"csrf": "x" * 32}) as refused:
            assert refused.status == 403
        async with browser.get(f"{world.webhook_base}/servers", allow_redirects=False) as response:
            assert response.status == 200
        async with browser.post(f"{world.webhook_base}/logout", data={"csrf": token}, allow_redirects=False) as out:
            assert out.status == 303
        async with browser.get(f"{world.webhook_base}/servers", allow_redirects=False) as response:
            assert response.status == 303


async def test_pages_carry_a_strict_content_security_policy(world: World, oauth: FakeOAuth) -> None:
    """No inline scripts, no framing, nosniff; the session cookie is HttpOnly and SameSite=Lax."""
    await start_web_bot(world, oauth)
    async with client() as browser:
        async with browser.get(f"{world.webhook_base}/") as response:
            policy = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy
            assert "frame-ancestors 'none'" in policy
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "<script>" not in await response.text()
        async with browser.get(f"{world.webhook_base}/login", allow_redirects=False) as response:
            cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # PUBLIC_URL is http here


async def test_private_channel_songs_and_left_members_get_the_same_404(world: World, oauth: FakeOAuth) -> None:
    """A song from a channel the member cannot view is not listed and its page is a 404 like a
    missing one; an insider sees it; a member who left sees no gallery at all."""
    backstage, insiders = private_channel(world)
    bob = world.discord.add_user("bob")
    world.discord.give_role(world.guild_id, bob, insiders)
    await start_web_bot(world, oauth)
    await add_song(world, "song-open", 1, title="Open Song")
    await add_song(world, "song-secret", 2, title="Secret Song", channel_id=backstage, requester_id=bob)
    base = f"{world.webhook_base}/servers/{world.guild_id}"
    async with client() as alice:
        await sign_in(world, oauth, alice, world.member_id)
        async with alice.get(base) as response:
            page = await response.text()
        assert "Open Song" in page and "Secret Song" not in page
        async with alice.get(f"{base}/songs/song-secret") as hidden, alice.get(f"{base}/songs/no-such") as missing:
            assert hidden.status == missing.status == 404
            assert await hidden.text() == await missing.text()
    async with client() as insider:
        await sign_in(world, oauth, insider, bob)
        async with insider.get(f"{base}/songs/song-secret") as response:
            assert response.status == 200 and "Secret Song" in await response.text()
    carol = world.discord.add_user("carol")
    async with client() as leaver:
        await sign_in(world, oauth, leaver, carol)
        world.discord.remove_member(world.guild_id, carol)
        world.clock.advance(61)  # the bot re-checks membership with Discord at least once a minute
        async with leaver.get(base) as response:
            assert response.status == 404
        async with leaver.get(f"{world.webhook_base}/servers") as response:
            assert "Music Lovers" not in await response.text()


async def test_a_server_can_turn_its_gallery_off(world: World, oauth: FakeOAuth) -> None:
    """/settings web_gallery:False makes the gallery (and its share links) a 404; True brings it back."""
    await start_web_bot(world, oauth)
    world.discord.grant(world.member_id, world.discord.MANAGE_GUILD)
    await add_song(world, "song-a", title="Alpha")
    gallery = f"{world.webhook_base}/servers/{world.guild_id}"
    async with client() as browser:
        await sign_in(world, oauth, browser, world.member_id)
        link = await share(world, "song-a")
        for enabled, status in ((False, 404), (True, 200)):
            assert await reply_text(world, await settings(world, web_gallery=enabled)) == "Settings updated."
            assert await world.repo.web_gallery(world.guild_id) is enabled
            async with browser.get(gallery) as page, browser.get(link) as shared:
                assert page.status == shared.status == status


async def settings(world: World, **options: object) -> FakeInteraction:
    return await world.discord.invoke_slash("settings", options, user_id=world.member_id, channel_id=world.channel_id)


async def share(world: World, song: str, **options: object) -> str:
    """The member runs /share; the public link it answers with."""
    interaction = await world.discord.invoke_slash(
        "share", {"song": song, **options}, user_id=world.member_id, channel_id=world.channel_id
    )
    text = await reply_text(world, interaction)
    found = re.search(r"(http://\S+/s/[A-Za-z0-9_-]+)", text)
    assert found, text
    return found[1]


async def test_a_shared_song_plays_for_anyone_until_revoked(world: World, oauth: FakeOAuth) -> None:
    """/share gives a link whose page needs no sign-in and unfurls with a player; revoke makes it 404."""
    await start_web_bot(world, oauth)
    song = await add_song(world, "song-share", title="Sunny <b>Day</b>")
    link = await share(world, "song-share")
    assert link == await share(world, "song-share")  # sharing again gives the same link
    async with client() as stranger:
        async with stranger.get(link) as response:
            page = await response.text()
        assert response.status == 200
        assert '<meta property="og:title" content="Sunny &lt;b&gt;Day&lt;/b&gt;">' in page
        assert f'<meta property="og:audio" content="{song.audio_url}">' in page
        assert f'<meta property="og:image" content="{song.image_url}">' in page
        assert '<meta name="twitter:card" content="player">' in page
        assert "<b>Day</b>" not in page
        answer = await reply_text(
            world,
            await world.discord.invoke_slash(
                "share", {"song": "song-share", "revoke": True}, user_id=world.member_id, channel_id=world.channel_id
            ),
        )
        assert "no longer works" in answer
        async with stranger.get(link) as response:
            assert response.status == 404


async def test_only_the_requester_or_a_manager_may_share(world: World, oauth: FakeOAuth) -> None:
    """Another member is told who may share; a song from a private channel asks first."""
    await start_web_bot(world, oauth)
    bob = world.discord.add_user("bob")
    await add_song(world, "song-bob", title="Bob's", requester_id=bob)
    refused = await world.discord.invoke_slash(
        "share", {"song": "song-bob"}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "Only the member who made this song" in await reply_text(world, refused)
    backstage, insiders = private_channel(world)
    world.discord.give_role(world.guild_id, world.member_id, insiders)
    await add_song(world, "song-private", title="Private", channel_id=backstage)
    asked = await world.discord.invoke_slash(
        "share", {"song": "song-private"}, user_id=world.member_id, channel_id=backstage
    )
    assert "Share it anyway?" in await reply_text(world, asked)
    assert await world.repo.share_token("song-private") is None
    assert asked.original is not None
    (confirm,) = [c["custom_id"] for row in asked.original.components for c in row["components"] if c.get("style") == 4]
    await world.discord.click_button(asked.original, confirm, user_id=world.member_id)
    await world.discord.wait_for(lambda: "/s/" in asked.original.content)
    token = await world.repo.share_token("song-private")
    assert token is not None and token in asked.original.content


async def test_without_its_variables_the_web_is_off_and_the_log_says_why(
    world: World, oauth: FakeOAuth, caplog: pytest.LogCaptureFixture
) -> None:
    """No DISCORD_CLIENT_SECRET: no pages (the listener still takes callbacks), one log line naming it."""
    caplog.set_level(logging.INFO, logger="bot.app")  # bot.app.listener says it
    await world.start_bot(callbacks=True)
    async with client() as browser, browser.get(f"{world.webhook_base}/servers") as response:
        assert response.status == 404
    assert [r.getMessage() for r in caplog.records if "Web gallery off" in r.getMessage()] == [
        "Web gallery off: DISCORD_CLIENT_SECRET, SECRET_KEY not set"
    ]


async def test_any_process_of_a_cluster_serves_a_guild_of_another_shard(world: World, oauth: FakeOAuth) -> None:
    """A process running only shard 0 serves the gallery of a guild on shard 1 (read over REST),
    with the same channel rules: the private channel's song only for the member with the role."""
    guild = world.discord.add_guild("Far Away", shard=(1, 2))
    hall = world.discord.add_channel(guild, "hall")
    vault = world.discord.add_channel(guild, "vault")
    insiders = world.discord.add_role(guild, "insiders")
    world.discord.set_overwrite(vault, guild, deny=VIEW_CHANNEL)
    world.discord.set_overwrite(vault, insiders, allow=VIEW_CHANNEL)
    bob = world.discord.add_user("bob")
    world.discord.give_role(guild, bob, insiders)
    await start_web_bot(world, oauth, SHARD_COUNT="2", SHARD_IDS="0")
    assert world.bot.get_guild(guild) is None  # not in this process's cache
    await add_song(world, "far-open", 1, title="Open Far", guild_id=guild, channel_id=hall)
    await add_song(world, "far-vault", 2, title="Vault Far", guild_id=guild, channel_id=vault)
    base = f"{world.webhook_base}/servers/{guild}"
    async with client() as alice:
        await sign_in(world, oauth, alice, world.member_id)
        async with alice.get(f"{world.webhook_base}/servers") as response:
            assert "Far Away" in await response.text()
        async with alice.get(base) as response:
            page = await response.text()
        assert response.status == 200 and "Open Far" in page and "Vault Far" not in page
        async with alice.get(f"{base}/songs/far-vault") as response:
            assert response.status == 404
    async with client() as insider:
        await sign_in(world, oauth, insider, bob)
        async with insider.get(f"{base}/songs/far-vault") as response:
            assert response.status == 200 and "Vault Far" in await response.text()
