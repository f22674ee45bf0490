"""The local channel between a worker and its clients: an owner-only Unix socket with an auth key.

The socket lives in a fresh 0700 directory and the key in the run directory with mode 0600, so no
other user can open or connect. multiprocessing.connection supplies framing and the HMAC handshake;
only send_bytes/recv_bytes are used, so nothing received is ever unpickled. A message is one tag
byte then its payload: E an event's JSON line, H a batch of them (replayed history), R a request
or reply (engine.requests), B raw binary (attention weights).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from array import array
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

from engine.codec import Record
from engine.errors import EngineError
from engine.outputs import AttentionMap
from engine.requests import AttentionReply
from engine.run_files import atomic_write

KEY_FILE = "worker.key"
INFO_FILE = "worker.json"
EVENT, HISTORY, REPLY, BINARY = b"E", b"H", b"R", b"B"


def _write_private(path: Path, data: bytes) -> None:
    def write(temp: str) -> None:
        os.chmod(temp, 0o600)
        Path(temp).write_bytes(data)

    atomic_write(path, write)


def listen(run_dir: Path, detached: bool) -> Listener:
    """Open the worker's socket and publish its address, pid and key for the owner's clients."""
    key = secrets.token_bytes(32)
    _write_private(run_dir / KEY_FILE, key)
    socket_dir = tempfile.mkdtemp(prefix="llmlearns-")  # mkdtemp makes it 0700
    address = os.path.join(socket_dir, "worker.sock")
    listener = Listener(address, family="AF_UNIX", authkey=key)
    os.chmod(address, 0o600)
    info = {"pid": os.getpid(), "address": address, "detached": detached}
    _write_private(run_dir / INFO_FILE, json.dumps(info).encode())
    return listener


def worker_info(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None


def connect(run_dir: Path) -> Connection:
    """Connect to the run's worker; raises EngineError if none is listening."""
    info = worker_info(run_dir)
    try:
        key = (run_dir / KEY_FILE).read_bytes()
        if info is None:
            raise FileNotFoundError
        return Client(info["address"], family="AF_UNIX", authkey=key)
    except (OSError, EOFError, KeyError) as error:
        raise EngineError(
            f"no worker is running for {run_dir} ({error.__class__.__name__})"
        ) from None
    except Exception as error:  # AuthenticationError: a stale key from an earlier worker
        raise EngineError(f"cannot connect to the worker of {run_dir}: {error}") from None


def send_record(conn: Connection, record: Record) -> None:
    """A request or reply, on the same codec as events."""
    conn.send_bytes(REPLY + record.to_json().encode())


def send_event_line(conn: Connection, line: str) -> None:
    conn.send_bytes(EVENT + line.encode())


def receive(conn: Connection) -> tuple[bytes, bytes]:
    """The next message as (tag, payload); raises EOFError when the other side is gone."""
    message = conn.recv_bytes()
    return message[:1], message[1:]


def send_attention(conn: Connection, request_id: int, attention: AttentionMap) -> None:
    header = AttentionReply(
        id=request_id,
        tokens=tuple(attention.tokens),
        token_ids=tuple(attention.token_ids),
        shape=tuple(attention.shape),
        unknown=tuple(attention.unknown),
        truncated=attention.truncated,
        step=attention.step,
    )
    send_record(conn, header)
    conn.send_bytes(BINARY + attention.weights.tobytes())


def attention_from_wire(header: AttentionReply, raw: bytes) -> AttentionMap:
    weights = array("f")
    weights.frombytes(raw)
    n_layer, n_head, T, T_keys = header.shape
    if len(weights) != n_layer * n_head * T * T_keys:
        raise EngineError("the worker sent attention weights that do not match their shape")
    return AttentionMap(
        tokens=list(header.tokens),
        token_ids=list(header.token_ids),
        shape=(n_layer, n_head, T, T_keys),
        weights=weights,
        unknown=list(header.unknown),
        truncated=header.truncated,
        step=header.step,
    )
