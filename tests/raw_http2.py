"""A bare HTTP/2 client on asyncio streams, for what no well-behaved gRPC client does: grant no
flow-control window (so replies stay in the server's memory), send part of a message and never
the rest, read the server's SETTINGS. Frames are built by hand (headers as HPACK literals), as a
hostile client in the cluster would; it answers SETTINGS and PING as HTTP/2 requires."""

from __future__ import annotations

import asyncio
import struct
from collections import defaultdict

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE = 0x3, 0x4


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def literal(name: str, value: str) -> bytes:
    """An HPACK literal header field without indexing, new name, no Huffman coding."""
    raw_name, raw_value = name.encode(), value.encode()
    assert len(raw_name) < 127
    assert len(raw_value) < 127
    return b"\x00" + bytes([len(raw_name)]) + raw_name + bytes([len(raw_value)]) + raw_value


def grpc_message(payload: bytes, declared: int | None = None) -> bytes:
    """A gRPC length-prefixed message; `declared` claims another length than is sent."""
    return b"\x00" + struct.pack(">I", len(payload) if declared is None else declared) + payload


class RawConnection:
    """One HTTP/2 connection. `window` is the SETTINGS_INITIAL_WINDOW_SIZE it announces (0: the
    server may send no DATA at all); WINDOW_UPDATE is never sent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.server_settings: dict[int, int] = {}
        self.settings_seen = asyncio.Event()
        self.closed = asyncio.Event()
        self.response_headers: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.ended: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.data_bytes = 0
        self._next_stream = 1
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, host: str, port: int, window: int = 65535) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port)
        connection = cls(reader, writer)
        settings = struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, window)
        writer.write(PREFACE + frame(SETTINGS, 0, 0, settings))
        await writer.drain()
        connection._task = asyncio.get_running_loop().create_task(connection._read())
        return connection

    async def _read(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(9)
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = await self.reader.readexactly(length)
                if kind == SETTINGS and not flags & ACK:
                    for at in range(0, len(payload), 6):
                        key, value = struct.unpack(">HI", payload[at : at + 6])
                        self.server_settings[key] = value
                    self.settings_seen.set()
                    self.writer.write(frame(SETTINGS, ACK, 0, b""))
                elif kind == PING and not flags & ACK:
                    self.writer.write(frame(PING, ACK, 0, payload))
                elif kind == HEADERS:
                    self.response_headers[stream].set()
                    if flags & END_STREAM:
                        self.ended[stream].set()
                elif kind == DATA:
                    self.data_bytes += length
                    if flags & END_STREAM:
                        self.ended[stream].set()
                elif kind == RST_STREAM:
                    self.ended[stream].set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            for ended in self.ended.values():
                ended.set()

    def call(
        self, path: str, message: bytes = b"", *, end: bool = True, declared: int | None = None
    ) -> int:
        """Starts a call of `path` (e.g. /grpc.health.v1.Health/Watch) carrying `message`; with
        `end` False the request never finishes. Returns the stream id."""
        stream = self._next_stream
        self._next_stream += 2
        block = (
            literal(":method", "POST")
            + literal(":scheme", "http")
            + literal(":path", path)
            + literal(":authority", "decision")
            + literal("content-type", "application/grpc")
            + literal("te", "trailers")
        )
        self.writer.write(frame(HEADERS, END_HEADERS, stream, block))
        body = grpc_message(message, declared)
        for at in range(0, len(body), 16384):
            last = at + 16384 >= len(body)
            chunk = body[at : at + 16384]
            self.writer.write(frame(DATA, END_STREAM if last and end else 0, stream, chunk))
        return stream

    async def close(self) -> None:
        self.writer.close()
        await self.closed.wait()
        if self._task is not None:
            await self._task
