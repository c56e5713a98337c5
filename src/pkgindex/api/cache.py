"""A cache of GET answers in each process, re-served for as long as the data they show is unchanged.

Every transaction that changes what the GETs show also bumps one number in the database, the data
version (``models.version``: triggers do it, whoever writes). Each GET reads that number first (one
small query, shared by concurrent requests: ``VersionReads``), and when an answer to the same URL was
built at the same version, sends it again without routing, querying or rendering anything. The answer
was built from queries that ran after the version was read, so it is at least as new as that version:
a client never gets older data than it would without the cache, a write is seen by the very next read
on every replica, and nothing needs to be invalidated by hand.

The cache holds at most ``PKGINDEX_RESPONSE_CACHE_MB`` of answers per process, least recently used out
first. Stored: answers ``200`` with a strong ``ETag`` and ``Cache-Control: public`` (what the read
routes send: the same bytes for every caller), keyed by scheme, host, root path, path and query, since
the hyperlinks in a body follow the request's base URL. ``If-None-Match`` is answered from the entry
(304).
"""

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pkgindex.api.etags import none_match_hits
from pkgindex.api.problems import on_database_error
from pkgindex.db import ReadConnector, database_unavailable
from pkgindex.models import DataVersion
from pkgindex.ops.metrics import RESPONSE_CACHE
from pkgindex.ops.requests import ROUTE_STATE_KEY, route_template

CURRENT_VERSION = select(DataVersion.version).where(DataVersion.id == 1)
# A larger body is served but not kept: a few of them would crowd out everything else.
MAX_BODY_BYTES = 512 * 1024
# The headers a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5).
NOT_MODIFIED_HEADERS = {b"etag", b"cache-control", b"vary"}

Key = tuple[str, str, str, str, bytes]


class VersionReads:
    """Reads of the data version, shared by the requests that wait for one at the same time.

    A request waits for the next read that *starts* after it asked, never for one already under way,
    so the version it gets is never older than the database was when the request arrived. Requests
    arriving during a read share the one after it: under load a process makes one small query per batch
    of concurrent requests instead of one each (as a database's group commit shares one disk flush)."""

    def __init__(self) -> None:
        self._next: asyncio.Future[int | None] | None = None  # the read not started yet
        self._reader: asyncio.Task[None] | None = None

    async def read(self, connect: ReadConnector) -> int | None:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        upcoming = self._next
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_while_asked(connect))
        # Shielded: a waiter that goes away (client disconnect) must not cancel the others' read.
        return await asyncio.shield(upcoming)

    async def _read_while_asked(self, connect: ReadConnector) -> None:
        while self._next is not None:
            asked, self._next = self._next, None
            try:
                async with connect() as connection:
                    version: int | None = await connection.scalar(CURRENT_VERSION)
            except Exception as exc:
                asked.set_exception(exc)
            except BaseException:
                # Cancelled (the loop is closing): the waiters give up too instead of waiting forever.
                for waiting in (asked, self._next):
                    if waiting is not None:
                        waiting.cancel()
                self._next = None
                raise
            else:
                asked.set_result(version)


@dataclass(frozen=True)
class Entry:
    version: int
    route: str  # for the access log and the metrics of a hit, which is never routed
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: str

    @property
    def size(self) -> int:
        """Bytes the entry holds (body and headers), as counted against the cache's budget."""
        return len(self.body) + sum(len(name) + len(value) for name, value in self.headers)


class ResponseCache:
    """For the GETs under ``prefix`` (the API: health checks and docs must not wait on the database)."""

    def __init__(self, app: ASGIApp, prefix: str, max_bytes: int) -> None:
        self.app = app
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.entries: OrderedDict[Key, Entry] = OrderedDict()  # least recently used first
        self.size = 0  # bytes held, at most max_bytes
        self.versions = VersionReads()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not self.max_bytes
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        try:
            version = await self.versions.read(scope["app"].state.read_connector)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            # Answered here, as the routes would (503), rather than waiting for the database twice.
            unavailable = await on_database_error(Request(scope), exc)
            await unavailable(scope, receive, send)
            return
        if version is None:  # no version row (a database changed by hand): nothing can be trusted
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = (
            scope["scheme"],
            headers.get("host", ""),
            scope.get("root_path", ""),
            scope["path"],
            scope["query_string"],
        )
        entry = self.entries.get(key)
        if entry is not None and entry.version == version:
            self.entries.move_to_end(key)
            RESPONSE_CACHE.labels("hit").inc()
            scope.setdefault("state", {})[ROUTE_STATE_KEY] = entry.route
            await self.send_entry(entry, headers.get("if-none-match"), send)
            return
        await self.build_and_keep(key, version, scope, receive, send)

    @staticmethod
    async def send_entry(entry: Entry, if_none_match: str | None, send: Send) -> None:
        if none_match_hits(if_none_match, entry.etag):
            headers = [(name, value) for name, value in entry.headers if name in NOT_MODIFIED_HEADERS]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": entry.body})

    async def build_and_keep(
        self, key: Key, version: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        storable = True

        async def keep_a_copy(message: Message) -> None:
            nonlocal start, storable
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and storable:
                chunks.append(message.get("body", b""))
                storable = sum(map(len, chunks)) <= MAX_BODY_BYTES
            await send(message)

        await self.app(scope, receive, keep_a_copy)
        route = route_template(scope)
        scope.setdefault("state", {})[ROUTE_STATE_KEY] = route
        entry = self._entry(version, route, start, b"".join(chunks)) if storable else None
        if entry is None or entry.size > self.max_bytes:
            RESPONSE_CACHE.labels("bypass").inc()
            return
        RESPONSE_CACHE.labels("miss").inc()
        self._keep(key, entry)

    def _keep(self, key: Key, entry: Entry) -> None:
        """Store ``entry``, replacing the key's older one, and drop the least recently used answers until
        the cache is within its budget again."""
        replaced = self.entries.pop(key, None)
        if replaced is not None:
            self.size -= replaced.size
        self.entries[key] = entry
        self.size += entry.size
        while self.size > self.max_bytes:
            _, dropped = self.entries.popitem(last=False)
            self.size -= dropped.size

    @staticmethod
    def _entry(version: int, route: str, start: Message | None, body: bytes) -> Entry | None:
        """The entry for an answer, or None if it may not be re-served to others."""
        if start is None or start["status"] != 200:
            return None
        headers = Headers(raw=start["headers"])
        etag = headers.get("etag", "")
        if not etag.startswith('"') or "public" not in headers.get("cache-control", ""):
            return None
        return Entry(version, route, list(start["headers"]), body, etag)
