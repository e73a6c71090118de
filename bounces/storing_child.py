"""The storing process's entry point (``python -m bounces.storing_child FD``) and its wire format.

Nothing of Django is imported before the gateway's settings arrive: they come first on the
socket, and apply before ``django.setup()``. See :mod:`bounces.storing`.

Frames: a 4-byte big-endian length, then a pickle (both ends are our own processes). The gateway
sends its settings, then ``(sequence, Incoming)`` per message; the child answers each batch with
one frame, a list of ``(sequence, ok, Reception or error text)``. ``(0, RefusalBatch)`` carries
refusals of the SMTP dialogue to record; it gets no answer.
"""

from __future__ import annotations

import pickle
import signal
import socket
import struct
import sys
from typing import Any

HEAD = struct.Struct("!I")


def frame(payload: Any) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return HEAD.pack(len(data)) + data


def take_frames(buffer: bytearray, limit: int | None = None) -> list[Any]:
    """The complete frames at the start of ``buffer`` (``limit`` at most), removed from it."""
    frames: list[Any] = []
    offset = 0
    while len(buffer) - offset >= HEAD.size and (limit is None or len(frames) < limit):
        (size,) = HEAD.unpack_from(buffer, offset)
        if len(buffer) - offset - HEAD.size < size:
            break
        frames.append(pickle.loads(bytes(buffer[offset + HEAD.size : offset + HEAD.size + size])))
        offset += HEAD.size + size
    del buffer[:offset]
    return frames


def _first_frame(sock: socket.socket, buffer: bytearray) -> Any:
    while True:
        frames = take_frames(buffer, limit=1)
        if frames:  # messages may follow in the buffer: they wait for Django
            return frames[0]
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise SystemExit(0)
        buffer += chunk


def main(fd: int) -> None:
    # Ctrl-C reaches the whole process group: the child finishes its batch and leaves when the
    # gateway closes the socket, so that no committed message goes unanswered for a signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    buffer = bytearray()
    from django.conf import settings

    for name, value in _first_frame(sock, buffer).items():
        setattr(settings, name, value)
    import django

    django.setup()
    from bounces.storing import serve_child

    serve_child(sock, buffer)


if __name__ == "__main__":
    main(int(sys.argv[1]))
