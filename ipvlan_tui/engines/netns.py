"""Named network namespaces without forking a process (layer 5, no Textual).

iproute2's `ip netns add NAME` unshares a network namespace and bind-mounts
it on /run/netns/NAME. Doing the same from a short-lived *thread* avoids a
fork per namespace (PERF.md: forks are the slow path). A thread can enter a
namespace with setns(2) and leave it again; sockets opened while inside stay
bound to that namespace for their whole life, whichever thread uses them.

Names are "" (the host: the namespace this process started in), a named
namespace under /run/netns, "pid:PID" (a container's namespace), or an
absolute path to a namespace file (e.g. /proc/PID/ns/net).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import queue
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Iterator, TypeVar

T = TypeVar("T")

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_NAME_MAX = 255

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

# "" (the host) is the main thread's namespace: /proc/self is the thread-group
# leader, so "" means the same namespace whichever thread asks, even one that
# has entered another namespace. (The kernel tests move the main thread into a
# disposable namespace; "" follows it.)
_HOST_NS_PATH = "/proc/self/ns/net"


class NetnsError(OSError):
    """A namespace operation failed; carries errno like OSError."""


class NetnsThreadClosed(RuntimeError):
    """A call was given to a NetnsThread that has been closed."""


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise NetnsError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """setns(2) for the calling thread (os.setns exists only from Python 3.12)."""
    if hasattr(os, "setns"):  # pragma: no cover - Python 3.12+
        os.setns(fd, nstype)
        return
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    if hasattr(os, "unshare"):  # pragma: no cover - Python 3.12+
        os.unshare(flags)
        return
    _check(_libc.unshare(flags), "unshare")


def _mount(src: str, target: str, fstype: str, flags: int) -> None:
    _check(
        _libc.mount(src.encode(), target.encode(), fstype.encode(), flags, None),
        f"mount {target}",
    )


def _umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


# --------------------------------------------------------------------------
# Names and paths
# --------------------------------------------------------------------------
def valid_name(name: str) -> bool:
    return bool(name) and len(name) <= _NAME_MAX and bool(_NAME_RE.match(name)) and name not in (".", "..")


def check_name(name: str) -> str:
    if not valid_name(name):
        raise ValueError(
            f"invalid namespace name {name!r}: use letters, digits, '_', '.', '-' "
            "(first a letter or digit), no '/'"
        )
    return name


def netns_path(name_or_path: str) -> str:
    """The file that pins a namespace: "", NAME, "pid:PID" or an absolute path."""
    if not name_or_path:
        return _HOST_NS_PATH
    if name_or_path.startswith("/"):
        return name_or_path
    if name_or_path.startswith("pid:"):
        pid = name_or_path[4:]
        if not pid.isdigit():
            raise ValueError(f"invalid namespace {name_or_path!r}: pid:PID needs a number")
        return f"/proc/{pid}/ns/net"
    return os.path.join(NETNS_RUN_DIR, check_name(name_or_path))


def list_netns() -> list[str]:
    """Named namespaces in /run/netns, sorted (what `ip netns list` shows)."""
    try:
        names = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if valid_name(n))


def exists(name: str) -> bool:
    try:
        return os.path.exists(netns_path(name))
    except ValueError:
        return False


def ns_inode(name_or_path: str) -> tuple[int, int]:
    """(st_dev, st_ino) identifying a namespace (stable while it lives)."""
    st = os.stat(netns_path(name_or_path))
    return st.st_dev, st.st_ino


# --------------------------------------------------------------------------
# Create / delete
# --------------------------------------------------------------------------
_run_dir_lock = threading.Lock()


def _ensure_run_dir() -> None:
    """Make /run/netns a shared mount point, as iproute2 does.

    Shared propagation lets bind mounts made here show up in mount namespaces
    created later (containers, `ip netns exec`), and lets their removal
    propagate too.
    """
    with _run_dir_lock:
        os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
        if _libc.mount(b"", NETNS_RUN_DIR.encode(), b"none", MS_SHARED | MS_REC, None) == 0:
            return
        err = ctypes.get_errno()
        if err != errno.EINVAL:
            raise NetnsError(err, f"mount --make-shared {NETNS_RUN_DIR}: {os.strerror(err)}")
        # Not a mount point yet: bind it onto itself, then make it shared.
        _mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC)
        _mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC)


_run_dir_ready = False


def _run_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run fn in a fresh thread and return its result (or raise its error)."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    t = threading.Thread(target=body, name="ipvlan-tui-netns", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def create(name: str, *, exist_ok: bool = False) -> str:
    """Create the named namespace NAME and return its path (/run/netns/NAME).

    The namespace is unshared by a throwaway thread, which then dies: the
    calling thread and every other thread stay where they were.
    """
    return _create(name, exist_ok, None)[0]


def create_with(name: str, inside: Callable[[], T]) -> T:
    """Create the named namespace NAME and return inside()'s result, called in it.

    inside() runs on the creating thread while it is in the new namespace,
    e.g. to open a netlink socket bound to it: the first requests in a new
    namespace then need no second thread (each thread hand-off costs a
    scheduler wake-up, milliseconds on a loaded machine). FileExistsError
    when NAME exists; on any failure the namespace is removed again.
    """
    return _create(name, False, inside)[1]  # type: ignore[return-value]


def _create(name: str, exist_ok: bool, inside: Callable[[], T] | None) -> tuple[str, T | None]:
    global _run_dir_ready
    check_name(name)
    if not _run_dir_ready:
        _ensure_run_dir()
        _run_dir_ready = True
    path = os.path.join(NETNS_RUN_DIR, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    except FileExistsError:
        if exist_ok:
            return path, None
        raise
    os.close(fd)
    mounted = False

    def body() -> T | None:
        nonlocal mounted
        saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            unshare(CLONE_NEWNET)
            try:
                _mount("/proc/thread-self/ns/net", path, "none", MS_BIND)
                mounted = True
                return inside() if inside is not None else None
            finally:
                # Leave the new namespace; if that failed the thread ends anyway.
                setns(saved, CLONE_NEWNET)
        finally:
            os.close(saved)

    try:
        return path, _run_in_thread(body)
    except BaseException:
        if mounted:
            try:
                _umount(path, MNT_DETACH)
            except OSError:
                pass
        try:
            os.unlink(path)
        except OSError:
            pass
        raise


def delete(name: str, *, missing_ok: bool = True) -> bool:
    """Remove the named namespace: lazy umount + unlink (like `ip netns del`).

    The namespace itself lives on while a process, thread or socket still
    holds it. Returns False when it did not exist.
    """
    path = os.path.join(NETNS_RUN_DIR, check_name(name))
    if not os.path.lexists(path):
        if missing_ok:
            return False
        raise FileNotFoundError(errno.ENOENT, f"namespace {name} does not exist")
    try:
        _umount(path, MNT_DETACH)
    except NetnsError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: not mounted (half-made), just unlink
            raise
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return True


# --------------------------------------------------------------------------
# Running code inside a namespace
# --------------------------------------------------------------------------
@contextmanager
def entered(name_or_path: str) -> Iterator[None]:
    """Move the *calling thread* into a namespace for the block, then back.

    Only for threads this module's helpers own (the caller must not be the
    main thread or an event-loop thread): if the way back fails, the thread
    is left inside the namespace.
    """
    target = os.open(netns_path(name_or_path), os.O_RDONLY | os.O_CLOEXEC)
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(target, CLONE_NEWNET)
        try:
            yield
        finally:
            setns(saved, CLONE_NEWNET)
    finally:
        os.close(saved)
        os.close(target)


def in_netns(name_or_path: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run fn(*args, **kwargs) in a fresh thread that has entered the namespace.

    Use it to open sockets (netlink, ICMP) bound to a namespace; the socket
    can then be used from any thread. "" runs in the host namespace.
    """
    path = netns_path(name_or_path)

    def body() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)
        return fn(*args, **kwargs)  # the thread dies afterwards: no way back needed

    return _run_in_thread(body)


def open_in_each(names: list[str], fn: Callable[[str], T]) -> dict[str, T | BaseException]:
    """Call fn(name) inside each namespace from ONE helper thread.

    The thread enters each namespace in turn and returns to its own between
    them (cheaper than a thread per namespace). Errors are returned per name.
    """

    def body() -> dict[str, T | BaseException]:
        out: dict[str, T | BaseException] = {}
        for name in names:
            try:
                with entered(name):
                    out[name] = fn(name)
            except BaseException as exc:  # noqa: BLE001
                out[name] = exc
        return out

    return _run_in_thread(body)


class NetnsThread:
    """A long-lived thread that sits in one namespace and runs calls there.

    The kernel engine keeps one per namespace so that pyroute2's IPRoute
    (whose sockets are per thread in 0.9) is created and always used inside
    the namespace, and never on an asyncio event-loop thread.
    """

    def __init__(self, name_or_path: str) -> None:
        self.name = name_or_path
        self.path = netns_path(name_or_path)
        self.identity = ns_inode(name_or_path)
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future] | None] = queue.SimpleQueue()
        ready: Future = Future()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name=f"ipvlan-tui-ns:{name_or_path or 'host'}", daemon=True
        )
        self._thread.start()
        ready.result()  # raise if entering the namespace failed
        self.closed = False

    def _main(self, ready: Future) -> None:
        try:
            # Also for the host (""): a thread inherits its creator's namespace,
            # which is not necessarily the main thread's.
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                setns(fd, CLONE_NEWNET)
            finally:
                os.close(fd)
        except BaseException as exc:  # noqa: BLE001
            ready.set_exception(exc)
            return
        ready.set_result(True)
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001
                fut.set_exception(exc)

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, fn: Callable[[], T]) -> "Future[T]":
        if self.closed:
            raise NetnsThreadClosed(f"namespace thread for {self.name or 'host'} is closed")
        fut: Future = Future()
        self._queue.put((fn, fut))
        return fut

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.on_thread():
            return fn(*args, **kwargs)
        return self.submit(lambda: fn(*args, **kwargs)).result()

    def still_same(self) -> bool:
        """False when the namespace was deleted or recreated under the same name."""
        try:
            return ns_inode(self.name) == self.identity
        except OSError:
            return False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put(None)
            if not self.on_thread():
                self._thread.join(timeout=5)


class FreshSockets:
    """Sockets opened inside namespaces as they were made, kept by name for a while.

    The endpoint hot path (create namespace, create its link, configure it)
    then talks to a new namespace from the caller's own thread, on the socket
    the creating thread opened inside it, instead of one more thread hand-off
    per step. A socket pins its namespace, so the owner drops it once the
    namespace is configured or deleted; at most `limit` are kept (the oldest
    is closed first), and one is used only while the name still points at the
    namespace it was opened in.
    """

    def __init__(self, limit: int = 16) -> None:
        self._limit = max(1, limit)
        self._lock = threading.Lock()
        self._items: dict[str, tuple[tuple[int, int], Any, threading.Lock]] = {}

    def put(self, name: str, sock: Any) -> None:
        try:
            identity = ns_inode(name)
        except (OSError, ValueError):
            sock.close()
            return
        old: list[Any] = []
        with self._lock:
            prev = self._items.pop(name, None)
            if prev is not None:
                old.append(prev[1])
            # Let go of namespaces deleted behind our back: the socket would keep them alive.
            for other, (ident, osock, _) in list(self._items.items()):
                try:
                    gone = ns_inode(other) != ident
                except (OSError, ValueError):
                    gone = True
                if gone:
                    old.append(osock)
                    del self._items[other]
            self._items[name] = (identity, sock, threading.Lock())
            while len(self._items) > self._limit:
                old.append(self._items.pop(next(iter(self._items)))[1])
        for s in old:
            s.close()

    @contextmanager
    def borrow(self, name: str) -> Iterator[Any]:
        """Yield the socket kept for `name` (used by one thread at a time), or None."""
        with self._lock:
            item = self._items.get(name)
        if item is None:
            yield None
            return
        identity, sock, lock = item
        try:
            same = ns_inode(name) == identity
        except (OSError, ValueError):
            same = False
        if not same:  # deleted or recreated under the same name
            self.drop(name)
            yield None
            return
        with lock:
            with self._lock:
                alive = self._items.get(name) is item
            yield sock if alive else None

    def drop(self, name: str) -> None:
        with self._lock:
            item = self._items.pop(name, None)
        if item is not None:
            with item[2]:  # not while another thread is using it
                item[1].close()

    def close(self) -> None:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for _, sock, lock in items:
            with lock:
                sock.close()

    def __len__(self) -> int:
        return len(self._items)
