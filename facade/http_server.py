"""The facade's HTTP server, for the webhook and the console alike: the drain (facade/drain.py),
connections served by facade/http1.py, and what keeps idle or hostile connections from
leaving a webhook unanswered:

- a cap on the connections the listener holds (facade/connection_limits.py says how many). At
  the cap a new connection takes the place of another (`_evict` says which); only a connection
  whose request has shown a valid key, until its answer is written, is never closed for room,
  so only when every held connection carries such a request is the new one closed unanswered.
  A request without one (refused, or to any path but the webhook's) has only its answer to
  lose, whatever it is doing: sending its body, waiting for a page of /metrics, or leaving its
  answers unread while it pipelines more. A request whose head has been read but whose key
  its handler has not looked at yet (the handler starts a loop turn or more later, and the
  loop may accept connections in between) may be the key holder's: it goes last of all;
- a cap on the connections one address holds, counting only those that have not yet carried a
  valid key: at it, a new connection takes the place of one of that address's own (the client
  holding the key, usually from a few addresses, is never reset by it: none whose key is still
  to be checked is closed for its address);
- a short timeout (`head_timeout`) for a connection's first request head, the idle timeout
  for the heads that follow on a keep-alive connection;
- accepting that pauses when the process runs out of descriptors (EMFILE and the like), with
  one log line per episode, instead of Tornado's loop spinning on the error and logging a
  traceback for every attempt; it resumes when a connection closes, or 0.1 s later."""

from __future__ import annotations

import copy
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tornado import httputil, iostream
from tornado.httpserver import _HTTPRequestContext
from tornado.ioloop import IOLoop

from facade import metrics
from facade.connection_limits import AddressKeys
from facade.drain import DrainingHTTPServer
from facade.http1 import FacadeServerConnection

log = logging.getLogger("facade.connections")
ACCEPTS_PER_WAKEUP = 128  # as Tornado's accept loop: other work gets its turn between batches
ACCEPT_RETRY_SECONDS = 0.1
# A connection that has sent no head for this long is held by a client that will not send one;
# a younger one may be a real client whose head the event loop has not read yet.
SILENT_GRACE_SECONDS = 1.0


# What a held connection is doing, in the order its kind is closed for room (after one silent
# for SILENT_GRACE_SECONDS; a younger silent one comes between IDLE and IDLE_KEYED).
SILENT = "silent"  # no request head yet
UNKEYED = "unkeyed"  # a request without a valid key: refused, or to a path that needs none
UNSENT = "unsent"  # its answer written, but not yet taken by the client
IDLE = "idle"  # answered, waiting for its next head; never a valid key on it
IDLE_KEYED = "idle_keyed"  # the same, on a connection that has carried a valid key
UNCHECKED = "unchecked"  # a request head read, its key not yet looked for by its handler
# A connection carrying a request with a valid key is in no pool: it is not closed for room.


@dataclass(slots=True)
class _Held:
    """What the server knows of one connection it holds."""

    address: str | None  # what it counts against (None: a trusted proxy)
    accepted: float  # when (the server's clock)
    spoke: bool = False  # it has sent a request head
    keyed: bool = False  # it has carried a request with a valid key: no address counts it
    pool: str | None = SILENT  # which of the server's pools it waits in (None: none)
    request: httputil.HTTPConnection | None = None  # the one being read or answered


class _Waiting:
    """Connections in one state, oldest first, overall and per address."""

    def __init__(self) -> None:
        self.all: dict[object, None] = {}
        self.by_address: dict[str, dict[object, None]] = {}

    def add(self, connection: object, address: str | None) -> None:
        self.all[connection] = None
        if address is not None:
            self.by_address.setdefault(address, {})[connection] = None

    def discard(self, connection: object, address: str | None) -> None:
        if connection not in self.all:
            return
        del self.all[connection]
        if address is not None:
            of_address = self.by_address[address]
            del of_address[connection]
            if not of_address:
                del self.by_address[address]

    def oldest(self, address: str | None) -> object | None:
        """The oldest connection overall (`address` None) or of `address`."""
        pool = self.all if address is None else self.by_address.get(address, {})
        return next(iter(pool), None)


class FacadeHTTPServer(DrainingHTTPServer):
    """Takes, besides HTTPServer's arguments: `listener` (its name in metrics and logs),
    `max_connections`, `max_per_address`, `address_keys` and `head_timeout`."""

    def initialize(
        self,
        *args: Any,
        listener: str = "webhook",
        max_connections: int = 1024,
        max_per_address: int = 512,
        address_keys: AddressKeys | None = None,
        head_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().initialize(*args, **kwargs)
        self.clock = clock
        self.listener = listener
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.address_keys = address_keys or AddressKeys()
        # The first head of a connection gets `head_timeout`; Tornado's `header_timeout` (the
        # idle timeout) stays for the heads that follow.
        self.first_head_params = copy.copy(self.conn_params)
        if head_timeout is not None:
            self.first_head_params.header_timeout = head_timeout
        self._held: dict[object, _Held] = {}
        self._per_address: dict[str, int] = {}  # connections not yet keyed, per address
        self._pools = {
            name: _Waiting() for name in (SILENT, UNKEYED, UNCHECKED, UNSENT, IDLE, IDLE_KEYED)
        }
        self._accept_paused = False
        self._out_of_descriptors = False  # an episode has been logged and has not ended
        self._retry: object | None = None

    @property
    def connections_held(self) -> int:
        return len(self._held)

    # --- accepting ----------------------------------------------------------------------------

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = self._accept_from(sock)

    def _accept_from(self, sock: socket.socket) -> Callable[[], None]:
        """Tornado's accept loop (netutil.add_accept_handler), with accept errors answered
        by a pause instead of an exception per attempt; returns what stops it."""
        io_loop = IOLoop.current()
        removed = False

        def ready(fd: object, events: int) -> None:
            for _ in range(ACCEPTS_PER_WAKEUP):
                if removed or self._accept_paused:
                    return
                try:
                    connection, address = sock.accept()
                except BlockingIOError:
                    # Every waiting connection has been taken: a shortage is over (not at its
                    # first success, so that one that flaps is still one episode, one line).
                    self._out_of_descriptors = False
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as error:  # EMFILE, ENFILE, ENOBUFS, ENOMEM, ...
                    self._pause_accepting(error)
                    return
                self._admit(connection, address)

        def remove() -> None:
            nonlocal removed
            removed = True
            io_loop.remove_handler(sock)

        io_loop.add_handler(sock, ready, IOLoop.READ)
        return remove

    def _pause_accepting(self, error: OSError) -> None:
        if self._accept_paused or self._stopped:
            return
        self._accept_paused = True
        io_loop = IOLoop.current()
        for sock in self._sockets.values():
            io_loop.update_handler(sock, 0)  # waiting connections stay in the kernel's backlog
        if not self._out_of_descriptors:
            self._out_of_descriptors = True
            metrics.ACCEPT_PAUSES.labels(self.listener).inc()
            log.warning(
                "%s: cannot accept connections (%s) with %d open; retrying every %.1f s until "
                "it can (one line per episode)",
                self.listener,
                error.strerror or error,
                len(self._held),
                ACCEPT_RETRY_SECONDS,
                extra={"listener": self.listener, "connections": len(self._held)},
            )
        self._retry = io_loop.call_later(ACCEPT_RETRY_SECONDS, self._resume_accepting)

    def _resume_accepting(self) -> None:
        if not self._accept_paused or self._stopped:
            return
        self._accept_paused = False
        io_loop = IOLoop.current()
        if self._retry is not None:
            io_loop.remove_timeout(self._retry)
            self._retry = None
        for sock in self._sockets.values():
            io_loop.update_handler(sock, IOLoop.READ)

    # --- admission ----------------------------------------------------------------------------

    def _admit(self, connection: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        counted = self.address_keys.key(host)
        if not self._make_room(counted):
            connection.close()
            return
        self._handle_connection(connection, address)

    def _make_room(self, address: str | None) -> bool:
        """True when a connection counted against `address` may be held, after closing
        another one if a cap is reached; False when every candidate carries a request with a
        valid key."""
        if (
            address is not None
            and self._per_address.get(address, 0) >= self.max_per_address
            and not self._evict(address)
        ):
            # Only young silent connections of its own to close, which may be the key holder's
            # own whose heads the loop has not read yet: the listener's cap decides.
            metrics.CONNECTIONS_OVER_ADDRESS_CAP.labels(self.listener).inc()
        if len(self._held) >= self.max_connections and not self._evict(None):
            metrics.CONNECTIONS_REFUSED.labels(self.listener, "connection_cap").inc()
            return False
        return True

    def _evict(self, address: str | None) -> bool:
        """Closes the connection that loses least, if any may be closed: one silent for
        SILENT_GRACE_SECONDS, else one carrying a request without a valid key, else one whose
        answer is not being read, else one idle that never carried a valid key, else one
        silent for less (a real client's head may not have been read yet: the event loop
        reads it after the accepts that made this one wait), else, overall only, one idle
        that carried a valid key (closing a keep-alive connection races its client's next
        request), else one whose key its handler has
        not checked yet (it may be the key holder's, known a loop turn later, and its
        request has been sent: closing it could reset the holder, the adversary's F12).
        `address`: only that address's connections not yet keyed, and never a young silent
        one or one whose key is still to be checked."""
        pools = self._pools
        stale = pools[SILENT].oldest(address)
        if stale is not None and self.clock() - self._held[stale].accepted < SILENT_GRACE_SECONDS:
            stale = None
        candidates = [
            (stale, SILENT),
            (pools[UNKEYED].oldest(address), UNKEYED),
            (pools[UNSENT].oldest(address), UNSENT),
            (pools[IDLE].oldest(address), IDLE),
        ]
        if address is None:
            candidates += [
                (pools[SILENT].oldest(None), SILENT),
                (pools[IDLE_KEYED].oldest(None), IDLE),
                (pools[UNCHECKED].oldest(None), UNKEYED),  # no valid key shown yet
            ]
        for victim, reason in candidates:
            if victim is not None:
                self._release(victim)
                victim.stream.close()  # type: ignore[attr-defined]
                metrics.CONNECTIONS_EVICTED.labels(self.listener, reason).inc()
                return True
        return False

    # --- what each held connection is doing ---------------------------------------------------

    def handle_stream(self, stream: iostream.IOStream, address: tuple) -> None:
        # Tornado's (6.6), with the facade's connection class and the first head's timeout.
        context = _HTTPRequestContext(stream, address, self.protocol, self.trusted_downstream)
        connection = FacadeServerConnection(
            stream, self.conn_params, context, self.first_head_params, watcher=self
        )
        connection.on_closed = lambda: self._release(connection)  # at once, not when served
        host = address[0] if isinstance(address, tuple) else ""
        held = _Held(self.address_keys.key(host), self.clock())
        self._held[connection] = held
        if held.address is not None:
            self._per_address[held.address] = self._per_address.get(held.address, 0) + 1
        self._pools[SILENT].add(connection, held.address)
        metrics.OPEN_CONNECTIONS.labels(self.listener).inc()
        self._connections.add(connection)
        connection.start_serving(self)

    def _move(self, server_conn: object, pool: str | None) -> None:
        held = self._held.get(server_conn)
        if held is None or held.pool == pool:
            return
        if held.pool is not None:
            self._pools[held.pool].discard(server_conn, self._counted(held))
        held.pool = pool
        if pool is not None:
            self._pools[pool].add(server_conn, self._counted(held))

    @staticmethod
    def _counted(held: _Held) -> str | None:
        """The address a connection's pools file it under (None: none, once it is keyed)."""
        return None if held.keyed else held.address

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        held = self._held.get(server_conn)
        if held is not None:
            held.request = request_conn
            if held.spoke:  # answered: idle until its next head
                self._move(server_conn, IDLE_KEYED if held.keyed else IDLE)
            else:
                # A connection's first request arrived with the connection: the time spent
                # before its head was read (a backlog on the event loop, a slow sender) is
                # the caller's time too. A later one arrives with its head.
                request_conn.arrived_at = held.accepted  # type: ignore[attr-defined]
        return delegate

    def request_arrived(self, server_conn: object) -> None:
        super().request_arrived(server_conn)
        held = self._held.get(server_conn)
        if held is None:
            return
        if held.spoke and held.request is not None:  # a keep-alive connection's next request
            held.request.arrived_at = self.clock()  # type: ignore[attr-defined]
        held.spoke = True
        self._move(server_conn, UNCHECKED)  # until its handler has looked for a key

    def request_prepared(self, server_conn: object) -> None:
        super().request_prepared(server_conn)
        held = self._held.get(server_conn)
        if held is not None and held.pool == UNCHECKED:  # neither keyed nor answered
            self._move(server_conn, UNKEYED)

    def request_keyed(self, server_conn: object) -> None:
        """The request on `server_conn` carries a valid key: not closed for room until it is
        answered, and the connection no longer counts against its address."""
        held = self._held.get(server_conn)
        if held is None:
            return
        self._move(server_conn, None)
        if not held.keyed:
            held.keyed = True
            self._uncount(held)

    def request_answered(self, server_conn: object) -> None:
        """The answer to the request on `server_conn` is written: until the client has taken
        it, the connection may be closed for room like any without a valid key."""
        self._move(server_conn, UNSENT)

    def on_close(self, server_conn: object) -> None:
        self._release(server_conn)
        if self._accept_paused:  # a descriptor is free again
            self._resume_accepting()
        super().on_close(server_conn)

    def _release(self, server_conn: object) -> None:
        if server_conn not in self._held:
            return
        self._move(server_conn, None)
        held = self._held.pop(server_conn)
        if not held.keyed:
            self._uncount(held)
        metrics.OPEN_CONNECTIONS.labels(self.listener).dec()

    def _uncount(self, held: _Held) -> None:
        if held.address is None:
            return
        left = self._per_address[held.address] - 1
        if left:
            self._per_address[held.address] = left
        else:
            del self._per_address[held.address]
