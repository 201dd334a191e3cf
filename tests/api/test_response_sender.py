"""The native response sender (native/src/sender.rs): answers written in order per connection,
off the event loop's thread, never to a socket that reused a closed connection's descriptor,
and without one slow reader holding back the others."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from metered.native import extension

pytestmark = pytest.mark.skipif(extension is None, reason="needs the native extension")


def _pair() -> tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair (server side, client side)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    server.setblocking(False)  # as the event loop's sockets are
    return server, client


def _read_exactly(sock: socket.socket, n: int, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(1 << 20, n - len(data)))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _read_to_end(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = bytearray()
    while chunk := sock.recv(1 << 20):
        data += chunk
    return bytes(data)


def test_answers_arrive_in_order_and_the_socket_closes_after_them() -> None:
    sender = extension.ResponseSender()
    server, client = _pair()
    conn = sender.open(server.fileno())
    parts = [f"answer {i};".encode() * (i + 1) for i in range(200)]
    for part in parts:
        sender.send(conn, part)
    sender.close(conn)
    server.close()  # the event loop's descriptor goes first; the sender's copy keeps the socket
    assert _read_to_end(client) == b"".join(parts)
    assert sender.drain(5.0) and sender.outstanding() == 0
    client.close()


def test_a_reused_descriptor_never_gets_a_closed_connections_bytes() -> None:
    sender = extension.ResponseSender()
    first, first_client = _pair()
    conn = sender.open(first.fileno())
    number = first.fileno()
    first.close()
    second, second_client = _pair()  # very likely the same descriptor number
    sender.send(conn, b"for the first connection")
    sender.close(conn)
    second_conn = sender.open(second.fileno())
    sender.send(second_conn, b"for the second")
    assert _read_exactly(second_client, len(b"for the second")) == b"for the second"
    assert _read_to_end(first_client) == b"for the first connection"
    assert number >= 0
    sender.close(second_conn)
    for sock in (second, first_client, second_client):
        sock.close()


def test_a_slow_reader_gets_everything_and_does_not_hold_back_others() -> None:
    sender = extension.ResponseSender()
    slow, slow_client = _pair()
    fast, fast_client = _pair()
    slow_conn, fast_conn = sender.open(slow.fileno()), sender.open(fast.fileno())
    big = bytes(range(256)) * (8 << 12)  # 8 MiB: far more than the socket buffers hold
    sender.send(slow_conn, big)
    sender.send(slow_conn, b"end")
    time.sleep(0.2)
    sender.send(fast_conn, b"quick")
    assert _read_exactly(fast_client, 5, timeout=2.0) == b"quick"  # while the slow one waits
    assert sender.outstanding() >= 1
    assert _read_exactly(slow_client, len(big) + 3) == big + b"end"
    assert sender.drain(5.0)
    for conn in (slow_conn, fast_conn):
        sender.close(conn)
    for sock in (slow, slow_client, fast, fast_client):
        sock.close()


def test_a_peer_that_stops_reading_is_cut_off() -> None:
    sender = extension.ResponseSender()
    server, client = _pair()
    conn = sender.open(server.fileno())
    chunk = b"x" * (1 << 20)
    for _ in range(24):  # 24 MiB unread: past the 16 MiB limit
        sender.send(conn, chunk)
    assert sender.drain(10.0), "the cut-off connection's answers are dropped, not kept"
    client.settimeout(10.0)
    received = 0
    try:
        while chunk_in := client.recv(1 << 20):  # what was in the buffers, then the end
            received += len(chunk_in)
    except ConnectionResetError:
        pass
    assert received < 24 << 20
    sender.close(conn)
    server.close()
    client.close()


def test_a_gone_peer_drops_its_answers() -> None:
    sender = extension.ResponseSender()
    server, client = _pair()
    conn = sender.open(server.fileno())
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset
    time.sleep(0.05)
    for _ in range(100):
        sender.send(conn, b"nobody reads this" * 1000)
    assert sender.drain(5.0)
    sender.close(conn)
    server.close()


def test_many_threads_queue_at_once() -> None:
    sender = extension.ResponseSender()
    pairs = [_pair() for _ in range(8)]
    conns = [sender.open(server.fileno()) for server, _ in pairs]

    def feed(conn: int, tag: bytes) -> None:
        for i in range(500):
            sender.send(conn, tag + str(i).encode() + b";")

    threads = [threading.Thread(target=feed, args=(c, b"%d:" % n)) for n, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for conn in conns:
        sender.close(conn)
    for n, (server, client) in enumerate(pairs):
        server.close()
        expected = b"".join(b"%d:%d;" % (n, i) for i in range(500))
        assert _read_to_end(client) == expected
        client.close()
