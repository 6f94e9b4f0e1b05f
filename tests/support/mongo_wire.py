"""A MongoDB wire-protocol server for tests, backed by one in-memory mongomock client.

No MongoDB server can be installed here, yet multi-process tests (an API process and several
worker processes) must share one store; mongomock alone is private to each process. This
server speaks OP_MSG on loopback, so the real motor/pymongo driver in every process talks to
the same mongomock data: `MONGO_URL=mongodb://127.0.0.1:<port>/?directConnection=true`.

It answers as a standalone server. Commands run one at a time on a single asyncio loop
(mongomock is not thread-safe), so each command is atomic, as a single-document write is on a
real server. Where mongomock departs from MongoDB in a way a test could lean on (`_id`
immutability, error codes) the server answers as MongoDB does.

    python -m tests.support.mongo_wire --port 0    # prints "listening 127.0.0.1:<port>"

In-process: `server = MongoWireServer().start()`, `server.url`, `server.stop()`.
"""

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import bson
import mongomock
import uvloop
from bson.codec_options import CodecOptions
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from mongomock.filtering import filter_applies
from pymongo.errors import CollectionInvalid, PyMongoError, WriteError

from app.store.mongo import tune_mongomock

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
OP_MSG = 2013
CHECKSUM_PRESENT = 1 << 0
MORE_TO_COME = 1 << 1  # an unacknowledged (w: 0) write: the client reads no reply
MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH = 100_000
MAX_WIRE_VERSION = 21  # MongoDB 7.0; pymongo 4.20 accepts 9..29
DEFAULT_FIRST_BATCH = 101  # what a real server sends first when no batchSize is given
# Naive UTC datetimes in, naive UTC out: what mongomock stores and compares.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=False)

CODE_NAMES = {
    1: "InternalError",
    2: "BadValue",
    9: "FailedToParse",
    20: "IllegalOperation",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    43: "CursorNotFound",
    48: "NamespaceExists",
    59: "CommandNotFound",
    66: "ImmutableField",
    72: "InvalidOptions",
    85: "IndexOptionsConflict",
    238: "NotImplemented",
    10334: "BSONObjectTooLarge",
    11000: "DuplicateKey",
}


class ProtocolError(Exception):
    """A message this server cannot read; the connection is closed."""


class CommandError(Exception):
    """A command refused with a MongoDB error code, as a real server would refuse it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- framing -------------------------------------------------------------------------------------


async def read_message(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """One message off the socket: (requestID, opCode, the bytes after the 16-byte header)."""
    header = await reader.readexactly(16)
    length, request_id, _response_to, opcode = struct.unpack("<iiii", header)
    if not 16 < length <= MAX_MESSAGE_SIZE:
        raise ProtocolError(f"message length {length} out of range")
    return request_id, opcode, await reader.readexactly(length - 16)


def parse_op_msg(payload: bytes) -> tuple[int, dict[str, Any]]:
    """(flagBits, the command) from an OP_MSG body; kind-1 sequences become list fields.

    pymongo sends the documents of insert/update/delete as a kind-1 sequence beside the body,
    so `documents`, `updates` and `deletes` are folded back into the command document.
    """
    (flags,) = struct.unpack_from("<I", payload)
    end = len(payload) - 4 if flags & CHECKSUM_PRESENT else len(payload)
    command: dict[str, Any] | None = None
    sequences: dict[str, list[dict[str, Any]]] = {}
    position = 4
    try:
        while position < end:
            kind = payload[position]
            position += 1
            (size,) = struct.unpack_from("<i", payload, position)
            if kind == 0:
                command = bson.decode(payload[position : position + size], CODEC)
            elif kind == 1:
                name_end = payload.index(b"\x00", position + 4)
                name = payload[position + 4 : name_end].decode()
                sequences[name] = bson.decode_all(payload[name_end + 1 : position + size], CODEC)
            else:
                raise ProtocolError(f"unknown OP_MSG section kind {kind}")
            position += size
    except (bson.errors.InvalidBSON, struct.error, ValueError) as exc:
        raise ProtocolError(f"malformed OP_MSG: {exc}") from exc
    if command is None:
        raise ProtocolError("OP_MSG without a body section")
    return flags, command | sequences


def encode_op_msg(reply: dict[str, Any], request_id: int, response_to: int) -> bytes:
    """An OP_MSG with one body section, answering the request `response_to`."""
    body = struct.pack("<I", 0) + b"\x00" + bson.encode(reply, codec_options=CODEC)
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, OP_MSG) + body


# --- errors --------------------------------------------------------------------------------------


def failure(code: int, message: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": message, "code": code, "codeName": CODE_NAMES.get(code, "UnknownError")}


def refusal(exc: Exception) -> tuple[int, str]:
    """(MongoDB code, errmsg) for an error from mongomock or from bad input."""
    message = str(exc) if isinstance(exc, PyMongoError | CommandError) else f"{type(exc).__name__}: {exc}"
    if code := getattr(exc, "code", None):
        return int(code), message
    if "immutable" in message:
        return 66, message
    if isinstance(exc, CollectionInvalid):
        return 48, message
    if isinstance(exc, NotImplementedError):
        return 238, f"not supported by mongomock: {message}"
    return 2, message


# Errors that mean "this command or statement is refused"; anything else is a bug here.
REFUSALS = (CommandError, PyMongoError, NotImplementedError, ValueError, TypeError, KeyError, bson.errors.BSONError)


# --- cursors -------------------------------------------------------------------------------------


@dataclass
class Cursor:
    """Results the client has not fetched yet; docs are BSON-encoded only as they are sent."""

    ns: str
    docs: list[dict[str, Any]]
    lsid: bytes | None
    position: int = 0
    connections: set[int] = field(default_factory=set)  # the connections that fetched from it

    def next_batch(self, size: int | None, connection_id: int) -> list[RawBSONDocument]:
        """Up to `size` documents (all that are left when None), at most 16 MiB as a server sends."""
        self.connections.add(connection_id)
        stop = len(self.docs) if size is None else min(len(self.docs), self.position + size)
        batch: list[RawBSONDocument] = []
        total = 0
        while self.position < stop:
            raw = bson.encode(self.docs[self.position], codec_options=CODEC)
            if batch and total + len(raw) > MAX_BSON_SIZE:
                break
            batch.append(RawBSONDocument(raw))
            total += len(raw)
            self.position += 1
        return batch

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.docs)


class Cursors:
    """Open cursors by id; freed when exhausted, killed, their session ends, or their client left.

    pymongo may send a cursor's getMore on any connection of its pool, so a cursor lives until
    every connection that fetched from it has closed (a client process exited or crashed).
    """

    def __init__(self) -> None:
        self._open: dict[int, Cursor] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._open)

    def first_batch(
        self, cursor: Cursor, size: int | None, connection_id: int, single_batch: bool = False
    ) -> dict[str, Any]:
        batch = cursor.next_batch(size, connection_id)
        cursor_id = 0
        if not (single_batch or cursor.exhausted):
            cursor_id = next(self._ids)
            self._open[cursor_id] = cursor
        return {"cursor": {"firstBatch": batch, "id": Int64(cursor_id), "ns": cursor.ns}}

    def next_batch(self, cursor_id: int, size: int | None, connection_id: int) -> dict[str, Any]:
        cursor = self._open.get(cursor_id)
        if cursor is None:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        batch = cursor.next_batch(size, connection_id)
        if cursor.exhausted:
            del self._open[cursor_id]
            cursor_id = 0
        return {"cursor": {"nextBatch": batch, "id": Int64(cursor_id), "ns": cursor.ns}}

    def kill(self, cursor_ids: list[int]) -> dict[str, Any]:
        killed = [cursor_id for cursor_id in cursor_ids if self._open.pop(cursor_id, None) is not None]
        missing = [cursor_id for cursor_id in cursor_ids if cursor_id not in killed]
        return {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [], "cursorsUnknown": []}

    def end_sessions(self, lsids: set[bytes]) -> None:
        self._drop(lambda cursor: cursor.lsid in lsids)

    def connection_closed(self, connection_id: int) -> None:
        for cursor in self._open.values():
            cursor.connections.discard(connection_id)
        self._drop(lambda cursor: not cursor.connections)

    def _drop(self, unwanted: Callable[[Cursor], bool]) -> None:
        for cursor_id in [cid for cid, cursor in self._open.items() if unwanted(cursor)]:
            del self._open[cursor_id]


# --- commands ------------------------------------------------------------------------------------


def session_id(command: dict[str, Any]) -> bytes | None:
    lsid = command.get("lsid")
    return bytes(lsid["id"]) if isinstance(lsid, dict) and "id" in lsid else None


def is_replacement(update: Any) -> bool:
    return isinstance(update, dict) and not any(key.startswith("$") for key in update)


def batch_size(command: dict[str, Any], default: int | None = DEFAULT_FIRST_BATCH) -> int | None:
    size = command.get("cursor", {}).get("batchSize", command.get("batchSize", default))
    return None if size is None else int(size)


class Backend:
    """The commands, run synchronously against one mongomock client."""

    def __init__(self) -> None:
        tune_mongomock()
        self.client: mongomock.MongoClient[dict[str, Any]] = mongomock.MongoClient()
        self.cursors = Cursors()
        self.handlers: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
            "hello": self.hello,
            "isMaster": self.hello,
            "ismaster": self.hello,
            "ping": lambda cmd, conn: {},
            "buildInfo": self.build_info,
            "buildinfo": self.build_info,
            "endSessions": self.end_sessions,
            "killCursors": self.kill_cursors,
            "find": self.find,
            "getMore": self.get_more,
            "insert": self.insert,
            "update": self.update,
            "delete": self.delete,
            "findAndModify": self.find_and_modify,
            "aggregate": self.aggregate,
            "distinct": self.distinct,
            "count": self.count,
            "createIndexes": self.create_indexes,
            "listIndexes": self.list_indexes,
            "dropIndexes": self.drop_indexes,
            "listCollections": self.list_collections,
            "listDatabases": self.list_databases,
            "create": self.create,
            "drop": self.drop,
            "dropDatabase": self.drop_database,
        }

    def run(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        """The reply document for one command; never raises."""
        name = next(iter(command), "")
        handler = self.handlers.get(name)
        if handler is None:
            return failure(59, f"no such command: '{name}'")
        if "startTransaction" in command or "autocommit" in command:
            return failure(20, "Transaction numbers are only allowed on a replica set member or mongos")
        if "collation" in command:  # refused rather than silently compared byte by byte
            return failure(238, "collation is not supported by mongomock")
        try:
            return handler(command, connection_id) | {"ok": 1.0}
        except REFUSALS as exc:
            log.debug("command %s refused: %s", name, exc)
            return failure(*refusal(exc))
        except Exception as exc:  # a gap in this server: answer, log, keep serving
            log.exception("command %s failed", name, extra={"command": name})
            return failure(1, f"mongo_wire internal error: {exc!r}")

    def collection(self, command: dict[str, Any]) -> Any:
        """The mongomock collection a command names (its first field's value, in `$db`)."""
        name = command[next(iter(command))]
        if not isinstance(name, str):
            raise CommandError(2, f"collection name must be a string, not {name!r}")
        return self.client[command["$db"]][name]

    def ns(self, command: dict[str, Any]) -> str:
        return f"{command['$db']}.{command[next(iter(command))]}"

    def open_cursor(
        self,
        command: dict[str, Any],
        docs: list[dict[str, Any]],
        connection_id: int,
        *,
        single_batch: bool = False,
        ns: str | None = None,
    ) -> dict[str, Any]:
        """The cursor reply (first batch) of a find, aggregate or list command over `docs`."""
        cursor = Cursor(ns or self.ns(command), docs, session_id(command))
        return self.cursors.first_batch(cursor, batch_size(command), connection_id, single_batch)

    # handshake and housekeeping

    def hello(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        primary = "isWritablePrimary" if next(iter(command)) == "hello" else "ismaster"
        return {
            primary: True,
            "helloOk": True,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": MAX_WRITE_BATCH,
            "localTime": datetime.now(UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": connection_id,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
        }

    def build_info(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        return {"version": "7.0.0", "versionArray": [7, 0, 0, 0], "gitVersion": "mongomock", "bits": 64}

    def end_sessions(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        self.cursors.end_sessions({bytes(lsid["id"]) for lsid in command["endSessions"]})
        return {}

    def kill_cursors(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        return self.cursors.kill([int(cursor_id) for cursor_id in command["cursors"]])

    # reads

    def find(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        docs = self.collection(command).find(
            command.get("filter") or {},
            command.get("projection"),
            skip=command.get("skip", 0),
            limit=abs(command.get("limit", 0)),
            sort=list(command["sort"].items()) if command.get("sort") else None,
        )
        single = command.get("singleBatch", False) or command.get("limit", 0) < 0
        return self.open_cursor(command, list(docs), connection_id, single_batch=single)

    def get_more(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        return self.cursors.next_batch(int(command["getMore"]), batch_size(command, None), connection_id)

    def aggregate(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        if not isinstance(command["aggregate"], str):
            raise CommandError(238, "database-level aggregate is not supported by this test server")
        return self.open_cursor(command, list(self.collection(command).aggregate(command["pipeline"])), connection_id)

    def distinct(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        return {"values": self.collection(command).distinct(command["key"], command.get("query") or {})}

    def count(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        options = {name: command[name] for name in ("skip", "limit") if command.get(name)}
        return {"n": self.collection(command).count_documents(command.get("query") or {}, **options)}

    # writes: each statement runs alone; a refused one becomes a writeError, as on a server

    def insert(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        collection = self.collection(command)

        def one(index: int, document: dict[str, Any]) -> int:
            collection.insert_one(document)
            return 1

        return self._write_statements(command, "documents", one)

    def update(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        collection = self.collection(command)
        modified = 0
        upserted: list[dict[str, Any]] = []

        def one(index: int, statement: dict[str, Any]) -> int:
            nonlocal modified
            result = self._update_one_statement(collection, statement)
            modified += result["nModified"]
            if result["upserted"] is not None:
                upserted.append({"index": index, "_id": result["upserted"]})
            return result["n"]

        reply = self._write_statements(command, "updates", one)
        return reply | {"nModified": modified} | ({"upserted": upserted} if upserted else {})

    def delete(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        collection = self.collection(command)

        def one(index: int, statement: dict[str, Any]) -> int:
            remove = collection.delete_one if statement.get("limit") == 1 else collection.delete_many
            return remove(statement["q"]).deleted_count

        return self._write_statements(command, "deletes", one)

    @staticmethod
    def _write_statements(
        command: dict[str, Any], field_name: str, apply: Callable[[int, dict[str, Any]], int]
    ) -> dict[str, Any]:
        """Run each statement, count `n`, collect writeErrors; an ordered batch stops at the first."""
        n = 0
        errors: list[dict[str, Any]] = []
        for index, statement in enumerate(command[field_name]):
            try:
                n += apply(index, statement)
            except REFUSALS as exc:
                code, message = refusal(exc)
                errors.append({"index": index, "code": code, "errmsg": message})
                if command.get("ordered", True):
                    break
        return {"n": n} | ({"writeErrors": errors} if errors else {})

    def _update_one_statement(self, collection: Any, statement: dict[str, Any]) -> dict[str, Any]:
        """mongomock's own update result (n, nModified, upserted) for one update statement."""
        query, update, multi = statement["q"], statement["u"], statement.get("multi", False)
        if is_replacement(update):
            if multi:
                raise CommandError(9, "multi update is not supported for replacement-style update")
            self._refuse_id_change(collection, query, update)
        return collection._update(
            query,
            update,
            upsert=statement.get("upsert", False),
            multi=multi,
            array_filters=statement.get("arrayFilters"),
        )

    @staticmethod
    def _refuse_id_change(collection: Any, query: dict[str, Any], replacement: dict[str, Any]) -> None:
        """A replacement may not change `_id`; mongomock would store the change before refusing it."""
        if "_id" not in replacement:
            return
        current = collection.find_one(query, {"_id": 1})
        if current is not None and current["_id"] != replacement["_id"]:
            raise WriteError(
                f"After applying the update, the (immutable) field '_id' was found to have been altered "
                f"to _id: {replacement['_id']!r}",
                66,
            )

    def find_and_modify(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        """findAndModify with a lastErrorObject; matched and changed in one step, as on a server."""
        collection = self.collection(command)
        sort = list(command["sort"].items()) if command.get("sort") else None
        projection = command.get("fields")
        before = collection.find_one(command.get("query") or {}, sort=sort)
        pre_image = collection.find_one({"_id": before["_id"]}, projection) if before is not None else None
        if command.get("remove"):
            if before is not None:
                collection.delete_one({"_id": before["_id"]})
            return {"lastErrorObject": {"n": int(before is not None)}, "value": pre_image}
        statement = {
            "q": {"_id": before["_id"]} if before is not None else command.get("query") or {},
            "u": command["update"],
            "upsert": command.get("upsert", False),
            "arrayFilters": command.get("arrayFilters"),
        }
        result = self._update_one_statement(collection, statement)
        outcome: dict[str, Any] = {"n": result["n"], "updatedExisting": before is not None}
        if result["upserted"] is not None:
            outcome["upserted"] = result["upserted"]
        value = pre_image
        if command.get("new"):
            after_id = before["_id"] if before is not None else result["upserted"]
            value = None if after_id is None else collection.find_one({"_id": after_id}, projection)
        return {"lastErrorObject": outcome, "value": value}

    # indexes and namespaces

    def create_indexes(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        collection = self.collection(command)
        before = len(collection.index_information())  # 0: the collection does not exist yet
        for spec in command["indexes"]:
            options = {
                k: spec[k] for k in ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression") if k in spec
            }
            try:
                collection.create_index(list(spec["key"].items()), name=spec["name"], **options)
            except PyMongoError as exc:
                if "already exists with different options" not in str(exc):
                    raise
                raise CommandError(85, str(exc)) from exc
        after = len(collection.index_information())
        return {"numIndexesBefore": before or 1, "numIndexesAfter": after, "createdCollectionAutomatically": not before}

    def list_indexes(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        return self.open_cursor(command, list(self.collection(command).list_indexes()), connection_id)

    def drop_indexes(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        collection = self.collection(command)
        indexes = collection.index_information()
        target = command["index"]
        if target == "*":  # one by one: mongomock's drop_indexes would leave its TTL bookkeeping behind
            names: list[Any] = [name for name in indexes if name != "_id_"]
        else:
            names = target if isinstance(target, list) else [target]
        for name in names:
            if name in ("_id_", {"_id": 1}):
                raise CommandError(72, "cannot drop _id index")
            try:
                collection.drop_index(list(name.items()) if isinstance(name, dict) else name)
            except PyMongoError as exc:
                raise CommandError(27, str(exc)) from exc
        return {"nIndexesWas": len(indexes)}

    def list_collections(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        database = self.client[command["$db"]]
        entries = [
            {"name": name, "type": "collection", "options": {}, "info": {"readOnly": False}}
            for name in database.list_collection_names()
        ]
        wanted = [entry for entry in entries if filter_applies(command.get("filter") or {}, entry)]
        return self.open_cursor(command, wanted, connection_id, ns=f"{command['$db']}.$cmd.listCollections")

    def list_databases(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        names = self.client.list_database_names()
        return {"databases": [{"name": name, "sizeOnDisk": 0, "empty": False} for name in names], "totalSize": 0}

    def create(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        self.client[command["$db"]].create_collection(command["create"])
        return {}

    def drop(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        collection = self.collection(command)
        was = len(collection.index_information())
        collection.drop()
        return {"nIndexesWas": was, "ns": self.ns(command)}

    def drop_database(self, command: dict[str, Any], connection_id: int) -> dict[str, Any]:
        self.client.drop_database(command["$db"])
        return {"dropped": command["$db"]}


# --- the server ----------------------------------------------------------------------------------


class MongoWireServer:
    """Serve one Backend on loopback; in a background thread (`start`) or in the foreground (`serve`)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.backend = Backend()
        self._connection_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def url(self) -> str:
        return f"mongodb://{HOST}:{self.port}/?directConnection=true"

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def start(self) -> "MongoWireServer":
        ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(lambda _port: ready.set()),), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("mongo_wire did not start listening")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    async def serve(self, on_listening: Callable[[int], None]) -> None:
        """Listen until stopped; `on_listening` gets the bound port."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, HOST, self.port)
        self.port = server.sockets[0].getsockname()[1]
        on_listening(self.port)
        async with server:
            await self._stopping.wait()
        await self._close_connections()

    async def _close_connections(self) -> None:
        """Close every client connection and let its handler finish (a cancelled one logs noise)."""
        for writer in self._connections.values():
            writer.close()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def request_stop(self) -> None:
        """Stop `serve` from its own loop (a signal handler)."""
        if self._stopping is not None:
            self._stopping.set()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one client connection's messages in order until it closes."""
        connection_id = next(self._connection_ids)
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                request_id, opcode, payload = await read_message(reader)
                if opcode != OP_MSG:
                    raise ProtocolError(f"opcode {opcode} is not supported (only OP_MSG)")
                flags, command = parse_op_msg(payload)
                reply = self.backend.run(command, connection_id)
                if flags & MORE_TO_COME:
                    continue
                writer.write(self._encode_reply(reply, request_id))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ProtocolError as exc:
            log.warning("mongo_wire closes connection %d: %s", connection_id, exc)
        finally:
            del self._connections[task]
            self.backend.cursors.connection_closed(connection_id)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _encode_reply(self, reply: dict[str, Any], response_to: int) -> bytes:
        """The reply on the wire; a reply BSON cannot hold becomes an error reply."""
        request_id = next(self._request_ids) & 0x7FFFFFFF
        try:
            return encode_op_msg(reply, request_id, response_to)
        except (bson.errors.BSONError, OverflowError) as exc:
            return encode_op_msg(failure(10334, f"reply cannot be encoded: {exc}"), request_id, response_to)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = MongoWireServer(args.port)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.request_stop)
        await server.serve(lambda port: print(f"listening {HOST}:{port}", flush=True))

    uvloop.run(run())  # the stack's processes run on uvloop; a store on asyncio's own loop cost more


if __name__ == "__main__":
    main()
