"""A lean HTTP/1.1 keep-alive connection for the event sender's batch POSTs: one `sendall` of
head and body, the answer read with as few `recv` calls as its size allows.

Why not httpx here: a 1,000-event batch cost ~690 µs of the sender process's CPU through httpx
(h11's events, header objects, the pool's locks, several reads and writes) and ~60-130 µs
here (bench/sdk.py, against a server that only acknowledges): half a microsecond per event, on
the core the server needs. Every read or write lets go of the GIL, and a sender thread that
wants it back while the application's thread computes may wait for the interpreter's switch
interval (5 ms): so the socket stays in blocking mode (a Python timeout polls before every
call, one more release each time) and the timeout is the kernel's (SO_SNDTIMEO, SO_RCVTIMEO)
where it has one.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

READ_SIZE = 256 << 10  # a batch's answer (~80 bytes per event) in one or two reads
IDLE_CHECK = 1.0  # a connection idle this long is checked for a close by the server first
_KERNEL_TIMEOUTS = sys.platform.startswith(("linux", "darwin", "freebsd"))


class ConnectionBroken(OSError):
    """The connection ended before a whole answer came: whether the server applied the request
    is unknown. `reused` says the connection had served a request before (the server may have
    closed it while idle, before this request reached it)."""

    def __init__(self, message: str, *, reused: bool, answered_nothing: bool):
        super().__init__(message)
        self.reused = reused
        self.answered_nothing = answered_nothing


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the connections go: scheme, host and port of the base URL, and its path prefix."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def of(cls, base_url: str) -> Origin:
        parts = urlsplit(base_url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        return cls(scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def proxied(self) -> bool:
        """Whether the environment routes this origin through a proxy (HTTP_PROXY, ...), which
        httpx honours and this connection does not."""
        proxies = getproxies_environment()
        if not (proxies.get(self.scheme) or proxies.get("all")):
            return False
        return not proxy_bypass_environment(self.host)


class Connection:
    """One keep-alive connection; `exchange` sends a whole request and reads its answer.
    Not thread-safe: a pool hands each to one thread at a time."""

    def __init__(self, origin: Origin, timeout: float, tls: ssl.SSLContext | None):
        self.origin = origin
        self.timeout = timeout
        self.served = 0  # answers read on this connection
        self.closed = False
        self._last_used = time.monotonic()
        self._buf = bytearray()  # what was read and not yet taken as an answer
        # recv_into one area allocated once: recv(READ_SIZE) would allocate READ_SIZE bytes on
        # every call (an mmap, and a page fault for every page the data touches).
        self._area = memoryview(bytearray(READ_SIZE))
        self._received = False  # a byte of the current answer arrived
        sock = socket.create_connection((origin.host, origin.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=origin.host)
            elif _KERNEL_TIMEOUTS:
                sock.settimeout(None)
                whole = int(timeout)
                packed = struct.pack("ll", whole, int((timeout - whole) * 1e6))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, packed)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, packed)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def close(self) -> None:
        self.closed = True
        self._sock.close()

    def usable(self) -> bool:
        """False if the server closed it while it was idle (checked after IDLE_CHECK only:
        the check costs a system call)."""
        if self.closed or self._buf:  # bytes beyond the last answer: out of step
            return False
        if time.monotonic() - self._last_used < IDLE_CHECK:
            return True
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable  # an idle connection that reads: closed, or a stray answer

    def exchange(self, request: bytes) -> Answer:
        """Send `request` (head and body), read the answer. OSError (ConnectionBroken, a
        timeout) leaves the connection closed."""
        self._received = False
        try:
            self._sock.sendall(request)
            answer = self._read_answer()
        except BlockingIOError as exc:  # the kernel's timeout: EAGAIN
            self.close()
            raise TimeoutError(f"no answer within {self.timeout} s") from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            raise ConnectionBroken(f"{type(exc).__name__}: {exc}", reused=self.served > 0,
                                   answered_nothing=not self._received) from exc
        except ValueError as exc:  # a length or a chunk size that is not a number
            self.close()
            raise ConnectionBroken(f"not an HTTP answer: {exc}", reused=False,
                                   answered_nothing=False) from exc
        except BaseException:
            self.close()
            raise
        self.served += 1
        self._last_used = time.monotonic()
        if answer.headers.get("connection", "").lower() == "close":
            self.close()
        return answer

    # --- reading the answer ------------------------------------------------------------------

    def _fill(self) -> None:
        size = self._sock.recv_into(self._area)
        if not size:
            raise ConnectionBroken("the server closed the connection before answering",
                                   reused=self.served > 0, answered_nothing=not self._received)
        self._received = True
        self._buf += self._area[:size]

    def _read_answer(self) -> Answer:
        buf = self._buf
        while True:  # 1xx answers (none expected: no Expect header is sent) are skipped
            while (end := buf.find(b"\r\n\r\n")) < 0:
                self._fill()
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            status_line, _, rest = head.partition("\r\n")
            try:
                status = int(status_line.split(" ", 2)[1])
            except IndexError:
                raise ValueError(f"status line {status_line[:80]!r}") from None
            headers: dict[str, str] = {}
            for line in rest.split("\r\n"):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if status >= 200:
                return Answer(status, headers, self._read_body(status, headers))

    def _read_body(self, status: int, headers: dict[str, str]) -> bytes:
        buf = self._buf
        if status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = headers.get("content-length")
        if length is None:  # delimited by the end of the connection
            try:
                while True:
                    self._fill()
            except ConnectionBroken:
                pass
            body = bytes(buf)
            buf.clear()
            self.close()
            return body
        need = int(length)
        while len(buf) < need:
            self._fill()
        return self._take(need)

    def _read_chunked(self) -> bytes:
        buf = self._buf
        parts: list[bytes] = []
        while True:
            while (end := buf.find(b"\r\n")) < 0:
                self._fill()
            size = int(bytes(buf[:end]).split(b";", 1)[0], 16)
            del buf[: end + 2]
            if size == 0:  # trailers, then an empty line
                while (end := buf.find(b"\r\n")) != 0:
                    if end > 0:
                        del buf[: end + 2]
                    else:
                        self._fill()
                del buf[:2]
                return b"".join(parts)
            while len(buf) < size + 2:
                self._fill()
            parts.append(self._take(size))
            del buf[:2]

    def _take(self, size: int) -> bytes:
        """The first `size` bytes read, copied once."""
        with memoryview(self._buf) as view:
            taken = bytes(view[:size])
        del self._buf[:size]
        return taken
