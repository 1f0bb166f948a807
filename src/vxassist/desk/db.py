"""Opening the desk's database: one engine per process, migrations at start.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every
writing transaction starts with ``BEGIN IMMEDIATE``: writers queue for the lock
up front instead of failing with "database is locked" when a read transaction
tries to become a write one. PostgreSQL needs none of this; concurrent writers
are kept apart by row locks (the case counter) and unique indexes (idempotency
keys, enrollment codes).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Insert, Select, Update

from vxassist.desk.errors import DeskDatabaseError
from vxassist.paths import Paths

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0
#: how often the background checkpointer moves the write-ahead log into the database
CHECKPOINT_INTERVAL_S = 1.0


def default_db_url(paths: Paths) -> str:
    """The embedded SQLite file under the data folder."""
    return f"sqlite:///{paths.data_dir / 'desk.sqlite3'}"


def _sqlite_setup(engine: Engine, autocheckpoint: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit writes the log without fsync; the database never
        # corrupts, and a power cut (not a crash of the desk) may lose the commits
        # since the last checkpoint, which fsyncs.
        cur.execute("PRAGMA synchronous=NORMAL")
        if not autocheckpoint:
            # The committing writer would otherwise run the checkpoint (copy + fsync,
            # tens of ms on a busy disk) every 1000 pages, on the desk's event loop.
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("vx_write", False)
        # straight to the driver: SQLAlchemy's statement machinery costs more than BEGIN
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, *, autocheckpoint: bool = True) -> Engine:
    """An engine for ``url`` (``sqlite:///FILE`` or ``postgresql+psycopg://...``).

    ``autocheckpoint=False`` (SQLite): committing connections never checkpoint the
    log; someone else must (``Database(..., background_checkpoints=True)``).
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DeskDatabaseError(
            "The database URL is not valid; use sqlite:///PATH or postgresql+psycopg://...",
            detail=str(exc),
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=20,
            max_overflow=80,
        )
        _sqlite_setup(engine, autocheckpoint)
        return engine
    try:
        return create_engine(parsed, pool_size=10, max_overflow=40, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise DeskDatabaseError(
            "The desk cannot use this database URL; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB.",
            detail=str(exc),
        ) from exc


class Statement:
    """A Core statement, compiled once per dialect and run on the driver's own connection.

    The hot path of intake: SQLAlchemy builds the SQL text and each column type's
    value conversion (for the dialect at hand: SQLite keeps times and dates as
    text) once, and every run is then one driver call, without SQLAlchemy's
    execution machinery (which costs several times the statement itself).
    ``keys`` names the columns an INSERT or UPDATE is given.
    """

    def __init__(self, statement: Insert | Update | Select[Any], keys: Sequence[str] = ()) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        done = self._compiled.get(dialect.name)
        if done is None:
            done = self._compiled[dialect.name] = _Compiled(self, dialect)
        return done


class _Compiled:
    """One statement's SQL text and value conversions for one dialect."""

    def __init__(self, owner: Statement, dialect: Dialect) -> None:
        compiled = owner.statement.compile(
            dialect=dialect, column_keys=list(owner.keys) if owner.keys else None
        )
        self.sql = str(compiled)
        params = compiled.construct_params(_check=False)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        #: values the statement carries itself (literals); every other name must be given
        self.defaults = {
            name: value
            for name, value in params.items()
            if name not in owner.keys and not binds[name].required
        }
        names = list(compiled.positiontup or []) if compiled.positional else list(params)
        self.positional = compiled.positional
        self.plan: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
        ]
        statement = owner.statement
        types = (
            [column.type for column in statement.selected_columns]
            if isinstance(statement, Select)
            else [column["type"] for column in statement.returning_column_descriptions]
        )
        self.result: list[Callable[[Any], Any] | None] = [
            kind.dialect_impl(dialect).result_processor(dialect, None) for kind in types
        ]

    def params(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters (a tuple, or a dict for named styles); KeyError names
        a value that was not given."""
        converted = []
        for name, process in self.plan:
            value = values[name] if name in values else self.defaults[name]
            converted.append(value if process is None else process(value))
        if self.positional:
            return tuple(converted)
        return dict(zip((name for name, _ in self.plan), converted, strict=True))

    def rows(self, raw: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not any(self.result):
            return raw
        return [
            tuple(v if p is None else p(v) for p, v in zip(self.result, row, strict=True))
            for row in raw
        ]


class DriverTransaction:
    """A writing transaction on the driver's connection: run ``Statement``s in it."""

    def __init__(self, connection: Any, dialect: Dialect, url: Any = None) -> None:
        self.connection = connection
        self.dialect = dialect
        #: the database's URL (whose transaction this is)
        self.url = url
        #: called once the transaction has committed (e.g. to wake the mail sender)
        self.after_commit: list[Callable[[], None]] = []

    def run(
        self, statement: Statement, values: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns (SELECT or RETURNING), converted."""
        compiled = statement.compiled(self.dialect)
        cursor = self.connection.cursor()
        try:
            cursor.execute(compiled.sql, compiled.params(values or {}))
            # fetch every row: SQLite finishes a RETURNING statement only then
            raw = cursor.fetchall() if cursor.description is not None else []
        finally:
            cursor.close()
        return compiled.rows(raw)


class Database:
    """The engine plus two kinds of session: reading, and writing (one transaction)."""

    def __init__(self, url: str, *, background_checkpoints: bool = False) -> None:
        self.url = url
        sqlite_file = make_url(url).get_backend_name() == "sqlite" and make_url(
            url
        ).database not in (None, "", ":memory:")
        background = background_checkpoints and sqlite_file
        self.engine = make_engine(url, autocheckpoint=not background)
        self.dialect = self.engine.dialect.name
        self.inline = self.dialect == "sqlite"
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(vx_write=True)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        # SQLite has one writer at a time; threads that all ask for the lock at once end
        # up in its busy handler's growing sleeps (seconds at the tail). Queue them here
        # instead: in order, woken at once. Other processes still meet the busy timeout.
        self._write_gate: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        #: SQLite: the one connection the hot path writes with, kept open (writers are serial)
        self._writer: Any = None
        #: what a unique index refuses with, through SQLAlchemy and from the driver itself
        self.integrity_errors: tuple[type[Exception], ...] = (
            IntegrityError,
            self.engine.dialect.loaded_dbapi.IntegrityError,
        )
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if background:
            self._checkpointer = threading.Thread(
                target=_checkpoint_loop,
                args=(weakref.ref(self), self._stop, CHECKPOINT_INTERVAL_S),
                name="vxassist-desk-checkpoint",
                daemon=True,
            )
            self._checkpointer.start()

    def checkpoint(self) -> None:
        """Copy the SQLite write-ahead log into the database file (and fsync), not blocking
        writers; a no-op elsewhere. Logged, not raised: the next round tries again."""
        if self.dialect != "sqlite":
            return
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").close()
        except OperationalError as exc:
            log.warning("SQLite checkpoint failed (retried later): %s", exc)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session whose work commits at the end, or rolls back on any error."""
        with self._write_gate, self._write() as session, session.begin():
            yield session

    @contextmanager
    def writing_connection(self) -> Iterator[Connection]:
        """A connection in a writing transaction: commits at the end, rolls back on error."""
        with self._write_gate, self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def driver_writing(self) -> Iterator[DriverTransaction]:
        """A writing transaction on the driver's own connection (see ``Statement``): commits
        at the end, rolls back on any error."""
        with self._write_gate:
            if self.dialect == "sqlite":
                if self._writer is None:
                    self._writer = self.engine.raw_connection()
                fairy = self._writer
            else:
                fairy = self.engine.raw_connection()
            driver = fairy.driver_connection
            tx = DriverTransaction(driver, self.engine.dialect, self.engine.url)
            try:
                if self.dialect == "sqlite":
                    driver.execute("BEGIN IMMEDIATE")
                yield tx
                driver.commit()
            except BaseException:
                try:
                    driver.rollback()
                except Exception:
                    # the connection itself is broken: the next transaction opens a new one
                    fairy.invalidate()
                    self._writer = None
                raise
            finally:
                if self.dialect != "sqlite":
                    fairy.close()
        for callback in tx.after_commit:
            callback()

    async def run(self, work: Callable[[], T]) -> T:
        """Run blocking database ``work`` from async code.

        On SQLite the work is microseconds of local file access, less than a hop to
        a worker thread costs, and writers are serial anyway: it runs in place. On a
        networked database it runs in a worker thread, so the event loop never waits.
        """
        if self.inline:
            return work()
        return await anyio.to_thread.run_sync(work)

    def dispose(self) -> None:
        with self._write_gate:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self._checkpointer is not None:
            self._stop.set()
            self._checkpointer.join(timeout=30)
            self._checkpointer = None
            self.checkpoint()
        self.engine.dispose()


def _checkpoint_loop(ref: weakref.ref[Database], stop: threading.Event, every_s: float) -> None:
    """Checkpoint every ``every_s`` in this thread (off the event loop) until stopped or the
    database object is gone."""
    while not stop.wait(every_s):
        db = ref()
        if db is None:
            return
        db.checkpoint()
        del db


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise DeskDatabaseError(
            "The desk cannot reach its database; check the --db URL and that the server runs.",
            detail=str(exc),
        ) from exc
    finally:
        engine.dispose()
    log.info("desk database at head: %s", make_url(url).render_as_string(hide_password=True))
