#!/usr/bin/env python3
"""`make soak`: the release algo-server on 127.0.0.1 under a mixed load for SOAK_SECONDS.

Good calls of every algorithm come from wrk (one process per kind, scripts/soak.lua checks
every answer); hostile clients come from this script (asyncio, raw sockets: malformed and
oversized bodies, slowloris, bombs, hostile media headers, SSRF URLs, protocol abuse).
/healthz is probed every 0.5 s and the server's RSS sampled from /proc.

Pass: the server never exits before it is told to, /healthz answers every probe, the RSS
stays under SOAK_RSS_MB, every good call is answered 200 (not an error envelope) or 429
with Retry-After with no socket error, and every hostile call gets one of the answers
expected for it. Prints calls, outcomes by kind, p50/p99 and max RSS.

Only 127.0.0.1 is contacted; every loop is bounded by the deadline; every process started
is ended by its PID. Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "soak-key"
HOST = "127.0.0.1"

# Server settings of the soak (stated in docs/reliability.md).
WORKERS = 2
QUEUE = 8
HEADER_TIMEOUT = 5
BODY_TIMEOUT = 10
MAX_BODY = 10 * 1024 * 1024


# ---------------------------------------------------------------------------------------
# Payloads


def png(width: int, height: int, rows: bytes | None = None) -> bytes:
    """An RGB PNG; rows default to zeros (a compression bomb when large)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if rows is None:
        compressor = zlib.compressobj(9)
        row = b"\x00" * (1 + 3 * width)
        parts = [compressor.compress(row) for _ in range(min(height, 4000))]
        data = b"".join(parts) + compressor.flush()
    else:
        data = zlib.compress(rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def wav(rate: int, channels: int, data_len: int, payload: bytes, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (
        b"RIFF" + struct.pack("<I", (36 + data_len) & 0xFFFFFFFF) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
        + b"data" + struct.pack("<I", data_len) + payload
    )


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, a baseline SOF0 claiming width x height, then EOI: nothing to decode."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


def gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b"\x2c" + struct.pack(
        "<HHHH", 0, 0, width, height
    ) + b"\x00\x02\x02\x44\x01\x00;"


def bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 64, 0, 0, 14 + len(info)) + info + b"\x00" * 64


def tiff_header(width: int, height: int) -> bytes:
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
        (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in entries
    ) + b"\x00\x00\x00\x00"
    return b"II*\x00" + struct.pack("<I", 8 + 16) + b"\x00" * 16 + ifd


def webp_header(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    vp8l = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 8
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(vp8l)) + b"WEBP" + b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l


# ---------------------------------------------------------------------------------------
# Raw HTTP/1.1 over asyncio streams


class Outcome(Exception):
    """A hostile call's result that is not an HTTP answer (closed, reset, held open)."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise Outcome("non-http answer")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += await reader.readexactly(size + 2)
            if size == 0:
                break
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read()
    return status, headers, body


def classify(status: int, headers: dict[str, str], body: bytes) -> str:
    if status == 429:
        return "429" if "retry-after" in headers else "429 without Retry-After"
    if status != 200:
        return str(status)
    try:
        reply = json.loads(body)
    except ValueError:
        return "200 raw"
    if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
        return "200 " + str(reply["error"].get("error_type", "untyped error"))
    if isinstance(reply, dict) and "async" in reply:
        return "200 async"
    return "200 ok"


def request(method: str, path: str, body: bytes = b"", content_type: str | None = None,
            key: str | None = KEY, extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
    if key is not None:
        head += f"Authorization: Simple {key}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    if method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    head += extra + "Connection: close\r\n\r\n"
    return head.encode("latin-1") + body


async def exchange(port: int, data: bytes, timeout: float = 120.0) -> str:
    """Sends `data` while reading one answer (a server may answer, 429 or 413, before it
    has read a large body), and classifies the answer."""
    reader, writer = await asyncio.open_connection(HOST, port)

    async def send():
        for start in range(0, len(data), 1 << 16):
            writer.write(data[start:start + (1 << 16)])
            await writer.drain()

    sender = asyncio.ensure_future(send())
    try:
        status, headers, body = await asyncio.wait_for(read_response(reader), timeout)
        return classify(status, headers, body)
    except asyncio.IncompleteReadError:
        return "closed"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    finally:
        sender.cancel()
        try:
            await sender
        except (asyncio.CancelledError, OSError):
            pass
        writer.close()


async def post(port: int, path: str, body: bytes, content_type: str | None, **kw) -> str:
    return await exchange(port, request("POST", path, body, content_type, **kw))


ALGO = "/v1/algo/blueprints"
JSON = "application/json"
BYTES = "application/octet-stream"
TEXT = "text/plain"
ADMITTED = {"429"}  # any call that passes path/query checks may find the pool full


def cases(fixtures: dict[str, bytes]) -> list[tuple[str, object, set[str]]]:
    """(name, coroutine factory taking the port, expected outcomes)."""
    input_error = {"200 InputError"} | ADMITTED

    def p(path, body, ctype, expect, **kw):
        return (lambda port: post(port, path, body, ctype, **kw)), expect

    big_array = b"[" + b"0," * (9 * 1024 * 1024 // 2 - 2) + b"0]"
    deep = b"[" * 100_000 + b"]" * 100_000
    too_many = json.dumps({"model": "diabetes", "instances": [[0] * 10] * 10_001}).encode()
    table: dict[str, tuple] = {
        # Bodies the protocol refuses.
        "json malformed": p(f"{ALGO}/Echo", b'{"a":', JSON, {"400"} | ADMITTED),
        "json nested 100k deep": p(f"{ALGO}/Echo", deep, JSON, {"400"} | ADMITTED),
        "text not UTF-8": p(f"{ALGO}/Echo", b"\xc3\x28\xff", TEXT, {"400"} | ADMITTED),
        "json as UTF-16": p(f"{ALGO}/Echo", '{"a":1}'.encode("utf-16"), JSON + "; charset=utf-16", {"400"} | ADMITTED),
        "json 9 MiB array to FaceDetection": p(f"{ALGO}/FaceDetection", big_array, JSON, input_error),
        "body 11 MiB declared": (lambda port: over_limit(port, chunked=False), {"413"} | ADMITTED | {"reset"}),
        "body 11 MiB chunked": (lambda port: over_limit(port, chunked=True), {"413", "reset"} | ADMITTED),
        "content-length short then EOF": (lambda port: short_body(port), {"400", "closed"} | ADMITTED),
        # Images: bombs, lies and non-images.
        "PNG header 100000x100000": p(f"{ALGO}/FaceDetection", png(100_000, 100_000, b"\x00"), BYTES, input_error),
        "PNG zlib bomb 4000x4000 (16 MP of zeros)": p(f"{ALGO}/FaceDetection", fixtures["png_bomb"], BYTES, {"200 ok"} | ADMITTED),
        "JPEG header 65000x65000": p(f"{ALGO}/SmartThumbnail?width=10&height=10", jpeg_header(65000, 65000), BYTES, input_error),
        "GIF header 65535x65535": p(f"{ALGO}/FaceDetection", gif_header(65535, 65535), BYTES, input_error),
        "BMP header 100000x100000": p(f"{ALGO}/FaceDetection", bmp_header(100_000, 100_000), BYTES, input_error),
        "TIFF header 100000x100000": p(f"{ALGO}/FaceDetection", tiff_header(100_000, 100_000), BYTES, input_error),
        "WebP header 16384x16384": p(f"{ALGO}/FaceDetection", webp_header(16384, 16384), BYTES, input_error),
        "JPEG truncated in half": p(f"{ALGO}/FaceDetection", fixtures["face"][: len(fixtures["face"]) // 2], BYTES, input_error),
        "not an image": p(f"{ALGO}/FaceDetection", b"hello, not an image", BYTES, input_error),
        "base64 garbage": p(f"{ALGO}/FaceDetection", b"!!! not base64 !!!", TEXT, input_error),
        "thumbnail 0 x 99999": p(f"{ALGO}/SmartThumbnail?width=0&height=99999", fixtures["face"], BYTES, input_error),
        "thumbnail format avif": p(f"{ALGO}/SmartThumbnail?width=10&height=10&format=avif", fixtures["face"], BYTES, input_error),
        "thumbnail [URL, W, H] of 5 items": p("/v1/algo/opencv/SmartThumbnail", b'["a", 1, 2, 3, 4]', JSON, input_error),
        # Media headers that once killed the server, and broken media.
        "WAV at 4294967291 Hz (76 bytes)": p(f"{ALGO}/SpeechToText", wav(4_294_967_291, 1, 32, bytes(32)), BYTES, input_error),
        "WAV at 1 Hz": p(f"{ALGO}/SpeechToText", wav(1, 1, 2000, bytes(2000)), BYTES, input_error),
        "WAV with 64 channels": p(f"{ALGO}/SpeechToText", wav(16000, 64, 256, bytes(256)), BYTES, input_error),
        "WAV claiming 2 GB of data": p(f"{ALGO}/SpeechToText", wav(8000, 1, 2_000_000_000, bytes(2048)), BYTES, input_error),
        "MP4 corrupt": p(f"{ALGO}/SpeechToText", fixtures["corrupt_mp4"], BYTES, input_error),
        "MP4 without audio": p(f"{ALGO}/SpeechToText", fixtures["noaudio_mp4"], BYTES, input_error),
        "MP4 truncated": p(f"{ALGO}/SpeechToText", fixtures["truncated_mp4"], BYTES, {"200 ok"} | input_error),
        "media: random bytes": p(f"{ALGO}/SpeechToText", os.urandom(4096), BYTES, input_error),
        "speech output=void with a hostile WAV": p(f"{ALGO}/SpeechToText?output=void", wav(1, 1, 64, bytes(64)), BYTES, {"200 async"} | ADMITTED),
        # URLs that must not be fetched (refused before any connection).
        "SSRF metadata 169.254.169.254": p(f"{ALGO}/SmartThumbnail", b'{"image":"http://169.254.169.254/latest/meta-data/","width":8,"height":8}', JSON, input_error),
        "SSRF loopback 127.0.0.1": p(f"{ALGO}/FaceDetection", b'{"image":"http://127.0.0.1:9/x.jpg"}', JSON, input_error),
        "SSRF NAT64 of metadata": p(f"{ALGO}/FaceDetection", b'{"image":"http://[64:ff9b::a9fe:a9fe]/"}', JSON, input_error),
        "SSRF IPv4-compatible ::127.0.0.1": p(f"{ALGO}/FaceDetection", b'{"image":"http://[::127.0.0.1]/"}', JSON, input_error),
        "file:// URL": p(f"{ALGO}/FaceDetection", b'{"image":"file:///etc/passwd"}', JSON, input_error),
        "speech output_url at metadata": p(f"{ALGO}/SpeechToText", b'{"url":"http://10.0.0.1/a.mp4","output_url":"http://169.254.169.254/x"}', JSON, input_error),
        # Predict inputs.
        "predict empty model": p(f"{ALGO}/Predict", b'{"model":"","instances":[]}', JSON, input_error),
        "predict NaN feature": p(f"{ALGO}/Predict", b'{"model":"diabetes","instances":[["nan",0,0,0,0,0,0,0,0,0]]}', JSON, input_error),
        "predict 1e39 into float32": p(f"{ALGO}/Predict", b'{"model":"diabetes","instances":[[1e39,0,0,0,0,0,0,0,0,0]]}', JSON, input_error),
        "predict 10001 instances": p(f"{ALGO}/Predict", too_many, JSON, input_error),
        "predict unknown model": p(f"{ALGO}/Predict", b'{"model":"nope/1.*","instances":[]}', JSON, input_error),
        "predict bytes": p(f"{ALGO}/Predict", b"\x00\x01", BYTES, input_error),
        # Auth, paths, query.
        "no API key": p(f"{ALGO}/Echo", b"{}", JSON, {"401"}, key=None),
        "wrong API key": p(f"{ALGO}/Echo", b"{}", JSON, {"401"}, key="soak-kez"),
        "unknown algorithm": p("/v1/algo/nobody/Nothing", b"{}", JSON, {"404"}),
        "path with ..": p("/v1/algo/blueprints/../Echo", b"{}", JSON, {"404"}),
        "version 9.9.9": p(f"{ALGO}/Echo/9.9.9", b"{}", JSON, {"404"}),
        "timeout=abc": p(f"{ALGO}/Echo?timeout=abc", b"{}", JSON, {"400"}),
        "output=file": p(f"{ALGO}/Echo?output=file", b"{}", JSON, {"400"}),
        "timeout=99999999999 (capped)": p(f"{ALGO}/Echo?timeout=99999999999", b"{}", JSON, {"200 ok"} | ADMITTED),
        "GET on an algorithm": (lambda port: exchange(port, request("GET", f"{ALGO}/Echo")), {"405"}),
        # HTTP abuse.
        "garbage request line": (lambda port: exchange(port, b"GARBAGE\r\n\r\n"), {"400", "closed", "reset"}),
        "64 KiB header (within hyper's buffer)": (lambda port: exchange(port, request("GET", "/healthz", extra="X-Big: " + "a" * 65536 + "\r\n")), {"200 ok"}),
        "1 MiB header": (lambda port: exchange(port, request("GET", "/healthz", extra="X-Big: " + "a" * (1 << 20) + "\r\n")), {"431", "400", "closed", "reset"}),
        "5000 headers": (lambda port: exchange(port, request("GET", "/healthz", extra="".join(f"X-{i}: v\r\n" for i in range(5000)))), {"431", "400", "closed", "reset"}),
        "HTTP/2 preface then garbage": (lambda port: exchange(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(256), 15), {"non-http answer", "closed", "reset"}),
        "32 pipelined /healthz": (lambda port: pipelined(port, 32), {"32 x 200"}),
        "slowloris headers (1 byte/s)": (lambda port: slowloris(port), {"cut off"}),
        "slow body (16 bytes/s)": (lambda port: slow_body(port), {"408"} | ADMITTED),
        "idle connection": (lambda port: idle(port), {"cut off"}),
    }
    return [(name, factory, expect) for name, (factory, expect) in table.items()]


async def over_limit(port: int, chunked: bool) -> str:
    """11 MiB against a 10 MiB limit: declared up front, or streamed chunked."""
    size = 11 * 1024 * 1024
    head = f"POST {ALGO}/Echo HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Simple {KEY}\r\nContent-Type: {BYTES}\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(head.encode())
        block = b"\x00" * 65536
        async def send():
            for _ in range(size // len(block)):
                writer.write((b"10000\r\n" + block + b"\r\n") if chunked else block)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        sender = asyncio.ensure_future(send())
        try:
            status, headers, body = await asyncio.wait_for(read_response(reader), 60)
            return classify(status, headers, body)
        finally:
            sender.cancel()
    except asyncio.IncompleteReadError:
        return "closed"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    finally:
        writer.close()


async def short_body(port: int) -> str:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request("POST", f"{ALGO}/Echo", b"", JSON).replace(b"Content-Length: 0", b"Content-Length: 100") + b'{"a": 1}')
        await writer.drain()
        writer.write_eof()
        status, headers, body = await asyncio.wait_for(read_response(reader), 30)
        return classify(status, headers, body)
    except asyncio.IncompleteReadError:
        return "closed"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    finally:
        writer.close()


async def until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bytes, limit: float) -> float | None:
    """Trickles `trickle` one byte a second; seconds until the server hung up, or None."""
    started = time.monotonic()
    index = 0
    while time.monotonic() - started < limit:
        if trickle:
            try:
                writer.write(trickle[index % len(trickle):index % len(trickle) + 1])
                await writer.drain()
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - started
            index += 1
        try:
            data = await asyncio.wait_for(reader.read(4096), 1.0)
            if not data or data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.1 400"):
                return time.monotonic() - started
        except asyncio.TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
    return None


async def slowloris(port: int) -> str:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"POST {ALGO}/Echo HTTP/1.1\r\nHost: {HOST}\r\n".encode())
        closed = await until_closed(reader, writer, b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n", HEADER_TIMEOUT + 10)
        return "cut off" if closed is not None else "held open"
    finally:
        writer.close()


async def idle(port: int) -> str:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        closed = await until_closed(reader, writer, b"", HEADER_TIMEOUT + 10)
        return "cut off" if closed is not None else "held open"
    finally:
        writer.close()


async def slow_body(port: int) -> str:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request("POST", f"{ALGO}/Echo", b"", BYTES).replace(b"Content-Length: 0", b"Content-Length: 4096"))
        await writer.drain()
        started = time.monotonic()

        async def trickle():
            while True:
                writer.write(b"x" * 16)
                await writer.drain()
                await asyncio.sleep(1)

        sender = asyncio.ensure_future(trickle())
        try:
            status, headers, body = await asyncio.wait_for(read_response(reader), BODY_TIMEOUT + 15)
            outcome = classify(status, headers, body)
            return outcome if time.monotonic() - started < BODY_TIMEOUT + 5 or outcome == "429" else "too slow: " + outcome
        finally:
            sender.cancel()
    except asyncio.TimeoutError:
        return "held open"
    except asyncio.IncompleteReadError:
        return "closed"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    finally:
        writer.close()


async def pipelined(port: int, count: int) -> str:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        one = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        writer.write(one * count)
        await writer.drain()
        ok = 0
        for _ in range(count):
            status, _, _ = await asyncio.wait_for(read_response(reader), 10)
            ok += status == 200
        return f"{ok} x 200"
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return "closed"
    finally:
        writer.close()


# ---------------------------------------------------------------------------------------
# The run


class Soak:
    def __init__(self, args):
        self.args = args
        self.deadline = 0.0
        self.hostile = defaultdict(Counter)
        self.hostile_ms: list[float] = []
        self.health_ok = 0
        self.health_failures: list[str] = []
        self.health_max_ms = 0.0
        self.rss_max_kb = 0
        self.rss_samples = 0
        self.server_died: str | None = None

    async def health_loop(self, port: int, pid: int):
        while time.monotonic() < self.deadline:
            started = time.monotonic()
            try:
                outcome = await asyncio.wait_for(exchange(port, request("GET", "/healthz", key=None)), 2.0)
            except (asyncio.TimeoutError, OSError) as error:
                outcome = f"no answer ({type(error).__name__})"
            elapsed = (time.monotonic() - started) * 1000
            if outcome == "200 ok":
                self.health_ok += 1
                self.health_max_ms = max(self.health_max_ms, elapsed)
            else:
                self.health_failures.append(f"{time.monotonic() - self.deadline + self.args.seconds:.1f}s: {outcome}")
            await asyncio.sleep(0.5)

    async def rss_loop(self, server: subprocess.Popen):
        while time.monotonic() < self.deadline:
            if server.poll() is not None:
                self.server_died = f"exited with {server.returncode} during the soak"
                return
            try:
                for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
                    if line.startswith(("VmRSS:", "VmHWM:")):
                        self.rss_max_kb = max(self.rss_max_kb, int(line.split()[1]))
                self.rss_samples += 1
            except OSError:
                pass
            await asyncio.sleep(0.25)

    async def hostile_loop(self, port: int, todo: list, offset: int):
        index = offset
        while time.monotonic() < self.deadline:
            name, factory, expect = todo[index % len(todo)]
            index += 1
            started = time.monotonic()
            try:
                outcome = await asyncio.wait_for(factory(port), 90)
            except asyncio.TimeoutError:
                outcome = "no answer in 90 s"
            except OSError as error:
                outcome = f"socket error: {error}"
            self.hostile_ms.append((time.monotonic() - started) * 1000)
            self.hostile[name][outcome] += 1
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def make_fixtures(tmp: Path) -> dict[str, Path]:
    gen = ROOT / "fixtures" / "generated"
    speech = gen / "speech.mp4"
    files = {
        "echo": (json.dumps({"soak": True, "items": [1, 2.5, None], "text": "héllo"}).encode(), JSON),
        "face": ((ROOT / "fixtures/images/astronaut.jpg").read_bytes(), BYTES),
        "thumbnail": ((ROOT / "fixtures/images/group.jpg").read_bytes(), BYTES),
        "speech": (speech.read_bytes(), BYTES),
        "predict": (json.dumps({"model": "diabetes", "instances": [
            {"age": 0.04, "sex": -0.04, "bmi": 0.06, "bp": 0.02, "s1": -0.04, "s2": -0.03,
             "s3": -0.04, "s4": 0.0, "s5": 0.02, "s6": -0.02}, [0] * 10]}).encode(), JSON),
    }
    paths = {}
    for name, (data, _) in files.items():
        path = tmp / f"good-{name}"
        path.write_bytes(data)
        paths[name] = path
    return paths


# Good calls: (kind, URL path, body file key, content type, wrk connections, delay ms).
GOOD = [
    ("Echo", f"{ALGO}/Echo/1.0.0", "echo", JSON, 2, 5),
    ("FaceDetection", f"{ALGO}/FaceDetection", "face", BYTES, 1, 0),
    ("SmartThumbnail", f"{ALGO}/SmartThumbnail?width=160&height=120&output=raw", "thumbnail", BYTES, 2, 0),
    ("SpeechToText", f"{ALGO}/SpeechToText", "speech", BYTES, 1, 0),
    ("Predict", f"{ALGO}/Predict/1.*", "predict", JSON, 2, 5),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="the release algo-server binary")
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", "300")))
    parser.add_argument("--rss-mb", type=int, default=int(os.environ.get("SOAK_RSS_MB", "1536")))
    parser.add_argument("--models", default=str(ROOT / "models"))
    parser.add_argument("--out", default=os.environ.get("SOAK_OUT", ""), help="write the summary JSON here")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="algo-soak-"))
    bodies = make_fixtures(tmp)
    gen = ROOT / "fixtures" / "generated"
    fixtures = {
        "face": bodies["face"].read_bytes(),
        "png_bomb": png(4000, 4000),
        "corrupt_mp4": (gen / "corrupt.mp4").read_bytes(),
        "noaudio_mp4": (gen / "noaudio.mp4").read_bytes(),
        "truncated_mp4": (gen / "truncated.mp4").read_bytes(),
    }
    port = free_port()
    log_path = tmp / "server.log"
    command = [
        args.server, "--listen", f"{HOST}:{port}", "--api-key", KEY,
        "--workers", str(WORKERS), "--queue", str(QUEUE), "--whisper-threads", "1",
        "--models-dir", args.models, "--whisper-model", str(Path(args.models) / "ggml-tiny.en.bin"),
        "--header-read-timeout", str(HEADER_TIMEOUT), "--body-read-timeout", str(BODY_TIMEOUT),
        "--max-body-bytes", str(MAX_BODY), "--shutdown-grace", "5",
    ]
    print(f"soak: {args.seconds} s against {' '.join(command)}", flush=True)
    log = open(log_path, "wb")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
    started_procs: list[subprocess.Popen] = []
    try:
        first = server.stdout.readline().decode().strip()
        if server.poll() is not None or not first:
            print(f"soak: the server did not start; log {log_path}", file=sys.stderr)
            return 1
        print(f"soak: {first}", flush=True)
        time.sleep(1.0)
        soak = Soak(args)
        soak.deadline = time.monotonic() + args.seconds
        base = f"http://{HOST}:{port}"
        for kind, path, body, ctype, connections, delay in GOOD:
            env = dict(os.environ, SOAK_KIND=kind, SOAK_BODY=str(bodies[body]), SOAK_CONTENT_TYPE=ctype,
                       SOAK_KEY=KEY, SOAK_DELAY_MS=str(delay))
            started_procs.append(subprocess.Popen(
                ["wrk", "-t1", f"-c{connections}", f"-d{args.seconds}s", "--timeout", "120s",
                 "-s", str(ROOT / "scripts/soak.lua"), base + path],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        todo = cases(fixtures)

        async def run():
            slow = [c for c in todo if c[0].startswith(("slowloris", "slow body", "idle"))]
            fast = [c for c in todo if c not in slow]
            await asyncio.gather(
                soak.health_loop(port, server.pid),
                soak.rss_loop(server),
                soak.hostile_loop(port, fast, 0),
                soak.hostile_loop(port, fast, len(fast) // 2),
                soak.hostile_loop(port, slow, 0),
                soak.hostile_loop(port, slow, 1),
            )

        asyncio.run(run())
        good = []
        for proc in started_procs:
            output, _ = proc.communicate(timeout=180)
            text = output.decode(errors="replace")
            lines = [l for l in text.splitlines() if l.startswith("SOAK_WRK ")]
            if lines:
                good.append(json.loads(lines[-1][len("SOAK_WRK "):]))
            else:
                good.append({"kind": "?", "requests": 0, "statuses": {}, "socket_errors": {"wrk": 1},
                             "p50_ms": 0, "p99_ms": 0, "max_ms": 0, "output": text[-500:]})
        alive = server.poll() is None
        if not alive and soak.server_died is None:
            soak.server_died = f"exited with {server.returncode} during the soak"
        # Shut down as an operator would, and time it.
        stop_started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
            stop_seconds = time.monotonic() - stop_started
        except subprocess.TimeoutExpired:
            stop_seconds = None
    finally:
        for proc in started_procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()

    server_log = log_path.read_text(errors="replace")
    panics = server_log.count("panicked")
    return report(args, soak, todo, good, stop_seconds, panics, log_path)


def report(args, soak: Soak, todo: list, good: list[dict], stop_seconds, panics: int, log_path: Path) -> int:
    failures = []  # the pass criteria: crashes, /healthz, RSS, good calls
    unmet = []  # hostile calls answered otherwise than expected
    print(f"\n== soak: {args.seconds} s, workers {WORKERS}, queue {QUEUE} ==")
    print("\ngood calls (wrk; latency includes 429 answers)")
    print(f"{'kind':16} {'calls':>7} {'200':>7} {'429+RA':>7} {'other':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    total_good = 0
    for g in good:
        statuses = g["statuses"]
        ok = statuses.get("200", 0)
        busy = statuses.get("429 with Retry-After", 0)
        other = {k: v for k, v in statuses.items() if k not in ("200", "429 with Retry-After")}
        socket_errors = {k: v for k, v in g["socket_errors"].items() if v}
        total_good += g["requests"]
        print(f"{g['kind']:16} {g['requests']:>7} {ok:>7} {busy:>7} {sum(other.values()):>7} "
              f"{g['p50_ms']:>8.1f} {g['p99_ms']:>8.1f} {g['max_ms']:>8.1f}")
        if other or socket_errors:
            failures.append(f"good {g['kind']}: {other} socket errors {socket_errors}")
        if ok == 0:
            failures.append(f"good {g['kind']}: no call answered 200")
    print("\nhostile calls (outcome: count)")
    total_hostile = 0
    for name, _, expect in todo:
        outcomes = soak.hostile.get(name, Counter())
        total_hostile += sum(outcomes.values())
        shown = ", ".join(f"{k}: {v}" for k, v in outcomes.most_common())
        bad = {k: v for k, v in outcomes.items() if k not in expect}
        print(f"  {'!!' if bad else 'ok'} {name}: {shown or 'not reached'}")
        if bad:
            unmet.append(f"hostile {name!r}: unexpected {bad}, expected {sorted(expect)}")
        if not outcomes:
            unmet.append(f"hostile {name!r}: never ran")
    print(f"\nhostile kinds: {len(soak.hostile)}, calls: {total_hostile}, "
          f"p50 {percentile(soak.hostile_ms, 50):.1f} ms, p99 {percentile(soak.hostile_ms, 99):.1f} ms")
    print(f"good calls: {total_good}")
    print(f"/healthz: {soak.health_ok} answered, {len(soak.health_failures)} failed, slowest {soak.health_max_ms:.1f} ms")
    print(f"max RSS: {soak.rss_max_kb / 1024:.0f} MiB (bound {args.rss_mb} MiB, {soak.rss_samples} samples + VmHWM)")
    print(f"panics logged: {panics}; shutdown after SIGTERM: "
          + (f"{stop_seconds:.2f} s" if stop_seconds is not None else "did not exit in 30 s"))
    if soak.server_died:
        failures.append(f"server {soak.server_died}")
    if soak.health_failures:
        failures.append(f"/healthz failed: {soak.health_failures[:5]}")
    if soak.rss_max_kb / 1024 > args.rss_mb:
        failures.append(f"RSS {soak.rss_max_kb / 1024:.0f} MiB over {args.rss_mb} MiB")
    if panics:
        failures.append(f"{panics} panics in the server log {log_path}")
    if stop_seconds is None:
        failures.append("the server did not stop within 30 s of SIGTERM")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "seconds": args.seconds, "good": good,
            "hostile": {k: dict(v) for k, v in soak.hostile.items()},
            "health_ok": soak.health_ok, "health_failures": soak.health_failures,
            "health_max_ms": soak.health_max_ms, "rss_max_mib": soak.rss_max_kb / 1024,
            "hostile_p50_ms": percentile(soak.hostile_ms, 50), "hostile_p99_ms": percentile(soak.hostile_ms, 99),
            "stop_seconds": stop_seconds, "panics": panics, "failures": failures,
            "hostile_unmet": unmet,
        }, indent=2))
    print(f"server log: {log_path}")
    print("\npass criteria (no crash, /healthz throughout, RSS bound, good calls 200 or 429 + Retry-After): "
          + ("FAILED" if failures else "met"))
    for failure in failures:
        print(f"  - {failure}")
    print(f"hostile expectations: {len(unmet)} unmet")
    for item in unmet:
        print(f"  - {item}")
    print("\nSOAK " + ("FAILED" if failures or unmet else "PASSED"))
    return 1 if failures or unmet else 0


if __name__ == "__main__":
    sys.exit(main())
