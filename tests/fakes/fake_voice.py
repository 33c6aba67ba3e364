"""Discord's voice side for `FakeDiscord`: voice states, the voice websocket and the UDP media endpoint.

What a bot sees, in the order Discord does it (https://discord.com/developers/docs/topics/voice-connections):

1. The bot sends op 4 (VOICE_STATE_UPDATE) on the main gateway. The fake answers with the
   VOICE_STATE_UPDATE dispatch (the bot's new voice state and its voice session id) and a
   VOICE_SERVER_UPDATE (a voice token and the endpoint of the voice websocket).
2. The bot opens `wss://<endpoint>/?v=8` (TLS, like Discord: discord.py only speaks wss here, so
   the fake serves a certificate made for 127.0.0.1 that `trust_fake_voice_tls()` adds to aiohttp's
   default trust store in the bot's process). HELLO, IDENTIFY (checked against the token and
   session), READY with an SSRC, the UDP address and the encryption modes, SELECT_PROTOCOL,
   SESSION_DESCRIPTION with a random 32-byte secret key and `dave_protocol_version` 0 (so no
   end-to-end MLS session is needed), heartbeats and SPEAKING.
3. UDP: the 74-byte IP discovery exchange, then RTP packets encrypted with the negotiated mode
   (aead_xchacha20_poly1305_rtpsize: the 12-byte RTP header is the additional data, the 32-bit
   nonce counter is appended). The fake decrypts every packet with PyNaCl and records the Opus
   frame and its arrival time per SSRC, which is what a listener would hear.

Tracks: discord.py sends five Opus silence frames (`F8 FF FE`) when a source ends, so a run of
non-silence frames between them is one song as a listener hears it (`Stream.tracks()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import itertools
import json
import secrets
import socket
import ssl
import struct
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.secret
from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.fake_discord import FakeDiscord, _GatewaySession

SILENCE = b"\xf8\xff\xfe"
MODES = ["aead_aes256_gcm_rtpsize", "aead_xchacha20_poly1305_rtpsize"]
"""What Discord offers today: the deprecated xsalsa20 modes are gone; a client picks what it supports."""
VOICE_CHANNEL = 2
STAGE_CHANNEL = 13
CONNECT = 1 << 20
SPEAK = 1 << 21
MOVE_MEMBERS = 1 << 24
MUTE_MEMBERS = 1 << 22
"""On a stage, this makes the bot a stage moderator: it may unsuppress itself (speak)."""
REQUEST_TO_SPEAK = 1 << 32


@dataclass
class Frame:
    """One decrypted Opus frame as it arrived."""

    at: float  # arrival at the receiver's socket (kernel timestamp, seconds; only differences matter)
    sequence: int
    timestamp: int
    opus: bytes

    @property
    def silence(self) -> bool:
        return self.opus == SILENCE


@dataclass(eq=False)
class Stream:
    """One voice connection of the bot: who it is, the key it negotiated and what it sent."""

    guild_id: int
    channel_id: int
    user_id: int
    ssrc: int
    mode: str | None = None
    secret_key: bytes = b""
    dave_protocol_version: int = 0
    frames: list[Frame] = field(default_factory=list)
    speaking: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, speaking flags)
    heartbeats: int = 0
    rejected_packets: int = 0  # undecryptable or malformed
    unheard_packets: int = 0  # sent while the bot was a stage's audience (suppressed): nobody hears them
    closed: bool = False
    udp_address: tuple[str, int] | None = None

    def tracks(self) -> list[list[Frame]]:
        """Runs of audio frames, split at the silence discord.py sends when a source ends (and at pauses)."""
        runs: list[list[Frame]] = []
        current: list[Frame] = []
        for frame in self.frames:
            if frame.silence:
                if current:
                    runs.append(current)
                    current = []
            else:
                current.append(frame)
        if current:
            runs.append(current)
        return runs

    def audio_frames(self) -> int:
        return sum(1 for frame in self.frames if not frame.silence)

    def max_gap(self) -> float:
        """The longest wait between consecutive audio frames within one track, in seconds."""
        gaps = [b.at - a.at for track in self.tracks() for a, b in itertools.pairwise(track)]
        return max(gaps, default=0.0)


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost), made fresh for the run; nothing is committed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-discord-voice")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "voice.crt", directory / "voice.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


_TLS: tuple[Path, Path] | None = None
_TLS_DIR: tempfile.TemporaryDirectory[str] | None = None


def voice_tls_files() -> tuple[Path, Path]:
    """The process's one fake voice certificate and key (made on first use)."""
    global _TLS, _TLS_DIR
    if _TLS is None:
        _TLS_DIR = tempfile.TemporaryDirectory(prefix="fake-voice-tls-")
        _TLS = _self_signed_certificate(Path(_TLS_DIR.name))
    return _TLS


def trust_fake_voice_tls(cafile: str | Path | None = None) -> None:
    """Make aiohttp's default (verifying) TLS context trust the fake voice server's certificate.

    discord.py connects to the voice websocket over `wss://` with aiohttp's default context; adding
    the fake's self-signed certificate there is the least invasive way to keep verification on.
    Called in the bot's process: by the test harness, and by `bench.child` with the file's path.
    """
    import aiohttp.connector

    path = cafile or voice_tls_files()[0]
    aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cafile=str(path))


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not always name it


class _UdpReceiver(threading.Thread):
    """The UDP endpoint, on its own thread with kernel arrival timestamps.

    Timing what a listener would hear must not depend on how busy the fake's event loop is (in the
    benchmark it also serves the gateway, media and REST for twenty servers), so packets are read
    by a thread from a socket with a large buffer, stamped by the kernel on arrival (SO_TIMESTAMPNS).
    """

    def __init__(self, voice: FakeVoice, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name="fake-voice-udp", daemon=True)
        self.voice, self.loop = voice, loop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.kernel_stamps = True
        except OSError:
            self.kernel_stamps = False
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                data, ancillary, _, addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            except OSError:
                return
            at = time.time()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    seconds, nanos = struct.unpack_from("@qq", value)
                    at = seconds + nanos / 1e9
            try:
                self.voice._on_datagram(data, addr, at)
            except Exception:  # a fake must not die on one odd packet
                continue

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendto(data, addr)

    def changed(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed first
            self.loop.call_soon_threadsafe(self.voice.discord._changed)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=2)
        self.sock.close()


class FakeVoice:
    """Voice for one `FakeDiscord`: members' voice states, the bot's voice connections, received audio."""

    def __init__(self, discord: FakeDiscord) -> None:
        self.discord = discord
        self.states: dict[int, dict[int, dict[str, Any]]] = {}  # guild -> user -> voice state payload
        self.streams: list[Stream] = []  # every voice connection, newest last (closed ones kept)
        self.by_ssrc: dict[int, Stream] = {}
        self.voice_state_requests: list[dict[str, Any]] = []  # op 4 payloads the bot sent
        self.endpoint = ""
        self.udp_port = 0
        self._tokens: dict[str, tuple[int, int, str]] = {}  # voice token -> (guild, user, session id)
        self._next_ssrc = 1000
        self._runner: web.AppRunner | None = None
        self._udp: _UdpReceiver | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    async def start(self) -> None:
        """Serve the voice websocket (TLS) and the UDP endpoint; in-process bots trust the certificate."""
        cert, key = voice_tls_files()
        trust_fake_voice_tls(cert)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        app = web.Application()
        app.router.add_get("/", self._voice_ws)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.endpoint = f"127.0.0.1:{self._runner.addresses[0][1]}"
        self._udp = _UdpReceiver(self, asyncio.get_running_loop())
        self._udp.start()
        self.udp_port = self._udp.port

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._udp is not None:
            self._udp.stop()
            self._udp = None

    # ------------------------------------------------------------------ world building

    def add_voice_channel(self, guild_id: int, name: str = "Lounge") -> int:
        """A voice channel (type 2) in the guild."""
        return self.discord.add_channel(guild_id, name, channel_type=VOICE_CHANNEL)

    def add_stage_channel(self, guild_id: int, name: str = "Stage") -> int:
        """A stage channel (type 13): who joins is in the audience (suppressed) until made a speaker."""
        return self.discord.add_channel(guild_id, name, channel_type=STAGE_CHANNEL)

    def bot_state(self, guild_id: int) -> dict[str, Any] | None:
        return self.states.get(guild_id, {}).get(self.discord.bot_user_id)

    async def invite_to_speak(self, guild_id: int) -> None:
        """A stage moderator accepts the bot's request to speak (Discord unsuppresses it)."""
        state = self.bot_state(guild_id)
        assert state is not None and state["request_to_speak_timestamp"], "the bot has not asked to speak"
        state["suppress"], state["request_to_speak_timestamp"] = False, None
        await self.discord._dispatch("VOICE_STATE_UPDATE", state)
        self.discord._changed()

    async def edit_bot_state(self, guild_id: int, payload: dict[str, Any]) -> None:
        """PATCH /guilds/{guild}/voice-states/@me, with Discord's rules: only on a stage the bot is
        in; unsuppressing needs Mute Members there, asking to speak needs Request to Speak."""
        from tests.fakes.fake_discord import _error

        state = self.bot_state(guild_id)
        channel_id = int(payload.get("channel_id") or 0)
        channel = self.discord.channels.get(channel_id)
        if channel is None or channel.type != STAGE_CHANNEL or state is None or state["channel_id"] != str(channel_id):
            raise _error(400, 50035, "Invalid Form Body: channel_id is not a stage channel you are in")
        if payload.get("suppress") is False:
            if not self.discord.bot_can(channel_id, MUTE_MEMBERS):
                raise _error(403, 50013, "Missing Permissions")
            state["suppress"] = False
        elif payload.get("suppress") is True:
            state["suppress"] = True
        if "request_to_speak_timestamp" in payload:
            if payload["request_to_speak_timestamp"] and not self.discord.bot_can(channel_id, REQUEST_TO_SPEAK):
                raise _error(403, 50013, "Missing Permissions")
            state["request_to_speak_timestamp"] = payload["request_to_speak_timestamp"]
        await self.discord._dispatch("VOICE_STATE_UPDATE", state)
        self.discord._changed()

    def channel_of(self, guild_id: int, user_id: int) -> int | None:
        state = self.states.get(guild_id, {}).get(user_id)
        return int(state["channel_id"]) if state and state.get("channel_id") else None

    def members_in(self, channel_id: int) -> list[int]:
        guild_id = self.discord.channels[channel_id].guild_id or 0
        return [user for user, state in self.states.get(guild_id, {}).items() if state["channel_id"] == str(channel_id)]

    def guild_voice_states(self, guild_id: int) -> list[dict[str, Any]]:
        """The `voice_states` of a GUILD_CREATE (without guild_id and member, like Discord)."""
        return [
            {k: v for k, v in state.items() if k not in ("guild_id", "member")}
            for state in self.states.get(guild_id, {}).values()
        ]

    async def join(self, user_id: int, channel_id: int) -> None:
        """A member joins (or moves to) a voice channel; the bot gets VOICE_STATE_UPDATE."""
        channel = self.discord.channels[channel_id]
        assert channel.type in (VOICE_CHANNEL, STAGE_CHANNEL), "members join voice or stage channels"
        await self._set_state(channel.guild_id or 0, user_id, channel_id, secrets.token_hex(16))

    async def leave(self, user_id: int, guild_id: int) -> None:
        """A member leaves voice in the guild."""
        await self._set_state(guild_id, user_id, None, "")

    async def _set_state(self, guild_id: int, user_id: int, channel_id: int | None, session_id: str) -> dict[str, Any]:
        guild = self.discord.guilds[guild_id]
        stage = channel_id is not None and self.discord.channels[channel_id].type == STAGE_CHANNEL
        state = {
            "guild_id": str(guild_id),
            "channel_id": str(channel_id) if channel_id else None,
            "user_id": str(user_id),
            "member": self.discord._member_payload(guild, user_id),
            "session_id": session_id,
            "deaf": False,
            "mute": False,
            "self_deaf": False,
            "self_mute": False,
            "self_video": False,
            "suppress": stage,  # a stage's newcomer is in its audience
            "request_to_speak_timestamp": None,
        }
        if channel_id is None:
            self.states.get(guild_id, {}).pop(user_id, None)
        else:
            self.states.setdefault(guild_id, {})[user_id] = state
        await self.discord._dispatch("VOICE_STATE_UPDATE", state)
        self.discord._changed()
        return state

    # ------------------------------------------------------------------ the main gateway's op 4

    async def on_voice_state_request(self, session: _GatewaySession, data: dict[str, Any]) -> None:
        """The bot asked to join, move or leave. Like Discord, a channel it may not connect to gets no answer."""
        self.voice_state_requests.append(data)
        guild_id = int(data["guild_id"])
        bot = self.discord.bot_user_id
        channel_id = int(data["channel_id"]) if data.get("channel_id") else None
        if channel_id is not None and not self.discord.bot_can(channel_id, CONNECT):
            self.discord._changed()
            return
        session_id = secrets.token_hex(16)
        state = await self._set_state(guild_id, bot, channel_id, session_id if channel_id else "")
        if channel_id is None:
            for stream in self.streams:
                if stream.guild_id == guild_id and not stream.closed:
                    stream.closed = True
            return
        state["self_deaf"], state["self_mute"] = bool(data.get("self_deaf")), bool(data.get("self_mute"))

        token = secrets.token_hex(8)
        self._tokens[token] = (guild_id, bot, session_id)
        await session.dispatch(
            "VOICE_SERVER_UPDATE", {"token": token, "guild_id": str(guild_id), "endpoint": self.endpoint}
        )

    # ------------------------------------------------------------------ the voice websocket

    async def _voice_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        stream: Stream | None = None
        seq = 0

        async def send(op: int, data: Any) -> None:
            nonlocal seq
            seq += 1
            await ws.send_str(json.dumps({"op": op, "d": data, "seq": seq}))

        try:
            await send(8, {"heartbeat_interval": 13750.0})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op, data = frame.get("op"), frame.get("d") or {}
                if op == 0:  # IDENTIFY
                    known = self._tokens.get(data.get("token", ""))
                    if known is None or known != (int(data["server_id"]), int(data["user_id"]), data["session_id"]):
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    guild_id, user_id, _ = known
                    channel_id = self.channel_of(guild_id, user_id) or 0
                    stream = Stream(guild_id, channel_id, user_id, self._next_ssrc)
                    self._next_ssrc += 1
                    self.streams.append(stream)
                    self.by_ssrc[stream.ssrc] = stream
                    await send(
                        2,
                        {
                            "ssrc": stream.ssrc,
                            "ip": "127.0.0.1",
                            "port": self.udp_port,
                            "modes": MODES,
                            "experiments": [],
                        },
                    )
                elif op == 1 and stream is not None:  # SELECT_PROTOCOL
                    mode = (data.get("data") or {}).get("mode")
                    if mode not in MODES:
                        await ws.close(code=4016, message=b"Unknown encryption mode.")
                        break
                    stream.mode = mode
                    stream.secret_key = secrets.token_bytes(32)
                    await send(
                        4,
                        {
                            "mode": mode,
                            "secret_key": list(stream.secret_key),
                            "dave_protocol_version": 0,
                            "audio_codec": "opus",
                            "video_codec": None,
                            "media_session_id": secrets.token_hex(16),
                        },
                    )
                elif op == 3:  # HEARTBEAT
                    if stream is not None:
                        stream.heartbeats += 1
                    await ws.send_str(json.dumps({"op": 6, "d": {"t": data.get("t")}}))
                elif op == 5 and stream is not None:  # SPEAKING
                    stream.speaking.append((time.monotonic(), int(data.get("speaking", 0))))
                    self.discord._changed()
                elif op == 7:  # RESUME: never resumable here
                    await ws.close(code=4006, message=b"Session no longer valid.")
                    break
        finally:
            self._sockets.discard(ws)
            if stream is not None:
                stream.closed = True
            self.discord._changed()
        return ws

    # ------------------------------------------------------------------ UDP

    def _on_datagram(self, data: bytes, addr: tuple[str, int], at: float) -> None:
        """On the receiver thread: answer IP discovery, or decrypt and record one RTP packet."""
        if len(data) == 74 and data[:2] == b"\x00\x01":  # IP discovery request
            (ssrc,) = struct.unpack_from(">I", data, 4)
            stream = self.by_ssrc.get(ssrc)
            if stream is None or self._udp is None:
                return
            stream.udp_address = addr
            reply = bytearray(74)
            struct.pack_into(">HHI", reply, 0, 2, 70, ssrc)
            reply[8 : 8 + len(addr[0])] = addr[0].encode("ascii")
            struct.pack_into(">H", reply, 72, addr[1])
            self._udp.sendto(bytes(reply), addr)
            return
        if len(data) < 12 + 16 + 4 or data[0] >> 6 != 2:
            return
        sequence, timestamp, ssrc = struct.unpack_from(">HII", data, 2)
        stream = self.by_ssrc.get(ssrc)
        if stream is None or stream.mode is None:
            return
        try:
            opus = self._decrypt(stream, data)
        except Exception:
            stream.rejected_packets += 1
            return
        state = self.bot_state(stream.guild_id)
        if state is not None and state.get("suppress"):  # in a stage's audience: nobody hears it
            stream.unheard_packets += 1
            return
        stream.frames.append(Frame(at, sequence, timestamp, opus))
        if (len(stream.frames) % 25 == 1 or opus == SILENCE) and self._udp is not None:
            self._udp.changed()

    @staticmethod
    def _decrypt(stream: Stream, packet: bytes) -> bytes:
        header_length = 12 + 4 * (packet[0] & 0x0F)  # CSRCs
        if packet[0] & 0x10:  # header extension: its 4-byte preamble is in the clear with rtpsize modes
            header_length += 4
        header, body = packet[:header_length], packet[header_length:]
        if stream.mode != "aead_xchacha20_poly1305_rtpsize":
            raise ValueError(f"mode {stream.mode} is not decrypted by the fake")
        nonce = body[-4:] + bytes(20)
        return nacl.secret.Aead(stream.secret_key).decrypt(body[:-4], header, nonce)

    # ------------------------------------------------------------------ what a listener notices

    def streams_in(self, guild_id: int) -> list[Stream]:
        return [stream for stream in self.streams if stream.guild_id == guild_id]

    def tracks(self, guild_id: int) -> list[list[Frame]]:
        """Every track heard in the guild, across connections, in order."""
        return [track for stream in self.streams_in(guild_id) for track in stream.tracks()]

    def track_lengths(self, guild_id: int) -> list[int]:
        """Opus frames per track heard in the guild (20 ms each: 50 per second)."""
        return [len(track) for track in self.tracks(guild_id)]

    def bot_channel(self, guild_id: int) -> int | None:
        return self.channel_of(guild_id, self.discord.bot_user_id)

    async def wait_for_tracks(self, guild_id: int, count: int, timeout: float = 30) -> list[int]:
        """Wait until `count` tracks have finished (silence heard after each)."""

        def finished() -> list[int] | None:
            lengths: list[int] = []
            for stream in self.streams_in(guild_id):
                frames = stream.frames
                runs = stream.tracks()
                ended = runs if frames and frames[-1].silence else runs[:-1]
                lengths.extend(len(run) for run in ended)
            return lengths if len(lengths) >= count else None

        return await self.discord.wait_for(finished, timeout)


__all__ = ["CONNECT", "MOVE_MEMBERS", "MUTE_MEMBERS", "SPEAK", "FakeVoice", "Frame", "Stream", "trust_fake_voice_tls"]
