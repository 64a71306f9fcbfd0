"""Which MLflow tracking store to use when none is named (no MLflow import: sweep validation stays instant)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"


def resolve_tracking_uri(tracking_uri: str | None, cwd: str | os.PathLike | None = None) -> str:
    """The given URI, else $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db (MLflow 3's default).

    A relative sqlite path is made absolute against `cwd`: Ray workers run in other folders.
    """
    uri = tracking_uri or os.environ.get(ENV_TRACKING_URI) or "sqlite:///mlflow.db"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{(Path(cwd or os.getcwd()) / uri[len('sqlite:///'):]).resolve()}"
    return uri
