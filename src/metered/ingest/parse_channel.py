"""A parse worker process and its channel: length-prefixed frames on two pipes.

The server's event loop writes each task (a header frame, then the body) to the worker's
request pipe and reads the answers from its answer pipe itself, in order: no threads in the
server to feed or drain the pipes and no pickling (`ProcessPoolExecutor` spent ~12% of the
server's GIL on both at the maximum rate, docs/benchmarks.md). The worker answers tasks one by
one, in the order they came.

The worker holds no other end of the request pipe, so it reads end-of-file as soon as the server
is gone, however it went (a SIGKILL included), and leaves: it never outlives its server.

Run as `python -m metered.ingest.parse_channel DB_PATH REQUEST_FD ANSWER_FD`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("metered.parse")
_LENGTH = struct.Struct("<I")
Header = tuple[str, int, bool, int, int, str]  # content type, account, livemode, now, gen, id
_encode_header = msgspec.msgpack.Encoder().encode
_decode_header = msgspec.msgpack.Decoder(Header).decode


PIPE_BYTES = 1 << 20  # a whole batch and its answer fit: one write and one read each


def _widen(fd: int) -> None:
    """Give the pipe room for a whole frame (Linux; elsewhere, or when refused, the default
    64 KiB only means more turns of the loop per frame)."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[attr-defined]


class WorkerGone(Exception):
    """The worker died (or was stopped) before answering."""


class _Answers(asyncio.Protocol):
    """The answer pipe: frames in, each settling the oldest task still waiting."""

    def __init__(self, channel: ParseChannel):
        self.channel = channel
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 4:
            (size,) = _LENGTH.unpack_from(buffer)
            if len(buffer) < 4 + size:
                return
            frame = bytes(buffer[4 : 4 + size])
            del buffer[: 4 + size]
            waiting = self.channel.waiting
            if waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_result(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.channel.gone()


class ParseChannel:
    """One worker process, its pipes and the tasks it has not answered yet."""

    def __init__(self, db_path: Path):
        task_read, task_write = os.pipe()
        answer_read, answer_write = os.pipe()
        for fd in (task_write, answer_write):
            _widen(fd)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "metered.ingest.parse_channel", str(db_path),
             str(task_read), str(answer_write)],
            pass_fds=(task_read, answer_write), stdin=subprocess.DEVNULL,
        )
        os.close(task_read)
        os.close(answer_write)
        self._task_fd: int | None = task_write
        self._answer_fd: int | None = answer_read
        self._tasks: asyncio.WriteTransport | None = None
        self._answers: asyncio.ReadTransport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self.waiting: collections.deque[asyncio.Future[bytes]] = collections.deque()
        self.dead = False

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._task_fd is not None and self._answer_fd is not None
        tasks_file = os.fdopen(self._task_fd, "wb", buffering=0)
        answers_file = os.fdopen(self._answer_fd, "rb", buffering=0)
        self._task_fd = self._answer_fd = None  # the files own them now
        self._tasks, _ = await loop.connect_write_pipe(asyncio.Protocol, tasks_file)
        self._answers, _ = await loop.connect_read_pipe(lambda: _Answers(self), answers_file)

    async def call(self, header: Header, body: bytes) -> bytes:
        """Send a task; its answer frame (raises WorkerGone if the worker dies first)."""
        if self.dead:
            raise WorkerGone()
        if self._tasks is None:
            if self._connecting is None:
                self._connecting = asyncio.ensure_future(self._connect())
            await asyncio.shield(self._connecting)
        assert self._tasks is not None
        if self._tasks.is_closing():
            self.gone()
            raise WorkerGone()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        head = _encode_header(header)
        self._tasks.writelines([_LENGTH.pack(len(head)), head, _LENGTH.pack(len(body)), body])
        return await future

    def gone(self) -> None:
        """The worker's answer pipe closed: fail whatever still waits for it."""
        self.dead = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(WorkerGone())

    @property
    def load(self) -> int:
        return len(self.waiting)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the request pipe (the worker leaves at its end) and wait for the process."""
        for transport in (self._tasks, self._answers):
            if transport is not None:
                with contextlib.suppress(RuntimeError):  # its event loop is closed already
                    transport.close()
                # Now, not on a later turn of the loop: stop() often runs on the loop's own
                # thread, which then blocks in process.wait below; the worker must see the end
                # of its pipe first (a closed file object ignores the transport's close later).
                transport.get_extra_info("pipe").close()
        for fd in (self._task_fd, self._answer_fd):
            if fd is not None:
                os.close(fd)
        self._task_fd = self._answer_fd = None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.gone()


# --- in the worker process -----------------------------------------------------------------

def _read_exactly(source: Any, size: int) -> bytes | None:
    """`size` bytes, or None at end-of-file (the server is gone)."""
    out = bytearray(size)
    view = memoryview(out)
    got = 0
    while got < size:
        n = source.readinto(view[got:])
        if not n:
            return None
        got += n
    return bytes(out)


def _read_frame(source: Any) -> bytes | None:
    head = _read_exactly(source, 4)
    if head is None:
        return None
    return _read_exactly(source, _LENGTH.unpack(head)[0])


def _write_all(out: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view):]


def serve(db_path: str, task_fd: int, answer_fd: int) -> None:
    from metered.ingest.parse_pool import init_worker, parse_in_worker  # noqa: PLC0415

    init_worker(db_path)
    with open(task_fd, "rb", buffering=0) as tasks, open(answer_fd, "wb", buffering=0) as out:
        while True:
            header = _read_frame(tasks)
            body = _read_frame(tasks) if header is not None else None
            if header is None or body is None:
                return  # the server closed the pipe, or is gone
            try:
                answer = parse_in_worker(body, *_decode_header(header))
            except Exception:  # noqa: BLE001 - the server validates it in-process instead
                log.exception("parsing a batch failed in the worker")
                answer = b""
            _write_all(out, _LENGTH.pack(len(answer)))
            _write_all(out, answer)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
