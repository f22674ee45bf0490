"""The local channel between a worker and its clients: an owner-only Unix socket with an auth key.

The socket lives in a fresh 0700 directory (removed when the worker ends, or by a later worker if
it was killed) and the key in the run directory with mode 0600, so no other user can open or
connect. multiprocessing.connection supplies framing and the HMAC handshake; only
send_bytes/recv_bytes are used, so nothing received is ever unpickled. A message is one tag byte
then its payload: E an event's JSON line, H a batch of them (replayed history), R a request or
reply (engine.contract.requests), B raw binary (attention weights).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import tempfile
from array import array
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

from engine.contract.codec import Record
from engine.contract.errors import EngineError
from engine.contract.outputs import AttentionMap
from engine.contract.requests import AttentionReply
from engine.runs.files import INFO_FILE, KEY_FILE, atomic_write
from engine.runs.liveness import pid_running, worker_info

EVENT, HISTORY, REPLY, BINARY = b"E", b"H", b"R", b"B"
SOCKET_PREFIX = "llmlearns-"


def _write_private(path: Path, data: bytes) -> None:
    def write(temp: str) -> None:
        os.chmod(temp, 0o600)
        Path(temp).write_bytes(data)

    atomic_write(path, write)


def listen(run_dir: Path, detached: bool, pid: int | None = None) -> Listener:
    """Open the worker's socket and publish its address, pid and key for the owner's clients.

    `pid` is the process that stands for the run (torchrun's agent for a run of several ranks):
    the one whose life is the run's, that `stop` waits for.

    The socket's folder is named for this process (llmlearns-<pid>-...), so that a later worker
    can remove it if this one dies without doing so (SIGKILL, a power cut): see clean_stale.
    """
    clean_stale()
    key = secrets.token_bytes(32)
    _write_private(run_dir / KEY_FILE, key)
    socket_dir = tempfile.mkdtemp(prefix=f"{SOCKET_PREFIX}{os.getpid()}-")  # mkdtemp: 0700
    try:
        address = os.path.join(socket_dir, "worker.sock")
        listener = Listener(address, family="AF_UNIX", authkey=key)
    except BaseException:
        shutil.rmtree(socket_dir, ignore_errors=True)
        raise
    try:
        os.chmod(address, 0o600)
        info = {"pid": pid or os.getpid(), "address": address, "detached": detached}
        _write_private(run_dir / INFO_FILE, json.dumps(info).encode())
    except BaseException:
        close_listener(listener)
        raise
    return listener


def close_listener(listener: Listener) -> None:
    """Close the socket and remove its folder."""
    address = listener.address
    listener.close()
    shutil.rmtree(os.path.dirname(address), ignore_errors=True)


def clean_stale(root: str | None = None) -> list[str]:
    """Remove socket folders of this user's workers that are gone; returns what was removed.

    Only folders named llmlearns-<pid>-..., owned by this user, whose pid no longer runs, are
    touched; one whose pid runs (perhaps reused by another program) is left alone.
    """
    root = root or tempfile.gettempdir()
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        pid = _socket_dir_pid(name)
        if pid is None or pid == os.getpid() or pid_running(pid):
            continue
        path = os.path.join(root, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _socket_dir_pid(name: str) -> int | None:
    if not name.startswith(SOCKET_PREFIX):
        return None
    pid = name[len(SOCKET_PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


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
