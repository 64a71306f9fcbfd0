"""Which MLflow store to read, refused early with one line when it cannot be reached."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from empgan.errors import UserError, first_line
from empgan.tracking import resolve_tracking_uri

CONNECT_TIMEOUT_S = 5.0
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")       # MLflow's SQLAlchemy stores besides sqlite


def check_database_driver(tracking_uri: str) -> None:
    """A postgresql/mysql/mssql store needs its Python DB driver (e.g. psycopg2); say so in one line."""
    from sqlalchemy.engine import make_url

    url = make_url(tracking_uri)
    try:
        url.get_dialect().import_dbapi()
    except ImportError as exc:
        raise UserError(f"tracking URI '{url.render_as_string(hide_password=True)}': the database driver for "
                        f"'{url.drivername}' is not installed ({exc}); install the Python package '{exc.name}' where "
                        "the sweep and its workers run, or use an MLflow server (http://HOST:5000)") from None


def check_reachable(tracking_uri: str) -> None:
    """A sqlite file must exist (reading must not create an empty store); a database store needs its driver;
    a server must accept connections."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        path = Path(tracking_uri[len("sqlite:///"):].split("?", 1)[0])
        if not path.is_file():
            raise UserError(f"tracking URI '{tracking_uri}': no MLflow database at {path}; "
                            "pass --tracking-uri or set MLFLOW_TRACKING_URI")
    elif parsed.scheme.split("+")[0] in DATABASE_SCHEMES:
        check_database_driver(tracking_uri)
    elif parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise UserError(f"tracking URI '{tracking_uri}' cannot be reached ({exc.strerror or exc}); "
                            "start the MLflow server or pass another --tracking-uri") from None


def open_client(tracking_uri: str | None) -> tuple[MlflowClient, str]:
    """(client, resolved URI) after the reachability check."""
    uri = resolve_tracking_uri(tracking_uri)
    check_reachable(uri)
    try:
        return MlflowClient(uri), uri
    except MlflowException as exc:
        raise mlflow_error(uri, exc) from None


def mlflow_error(tracking_uri: str, exc: MlflowException) -> UserError:
    """An MLflow failure as a one-line UserError naming the store."""
    return UserError(f"MLflow at '{tracking_uri}': {first_line(exc)}")
