"""The Optuna storage is checked before a run: an RDB URL must parse and its driver import; a
journal path must name a file in an existing directory."""

from __future__ import annotations

from pathlib import Path

from bench.errors import ConfigError


def check_storage(url_or_path: str) -> None:
    """Raise ConfigError (password masked) for a storage the run could not open."""
    from probes.redact import redact

    shown = redact(url_or_path)
    if "://" not in url_or_path:
        path = Path(url_or_path)
        if path.is_dir():
            raise ConfigError(f"storage {shown} is a directory; give a journal file path or an RDB URL")
        if not path.parent.is_dir():
            raise ConfigError(f"storage {shown}: directory {path.parent} does not exist")
        return
    # sqlalchemy comes with optuna; it is imported only when an RDB URL is given.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(url_or_path)
        dialect = url.get_dialect()
    except NoSuchModuleError:  # before ArgumentError, its base
        raise ConfigError(f"storage {shown}: SQLAlchemy has no database kind {url.drivername!r}") from None
    except (ArgumentError, ValueError):
        raise ConfigError(f"storage {shown} is not a database URL (dialect+driver://user@host/db)") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = exc.name or str(exc)
        raise ConfigError(
            f"storage {shown}: the {url.drivername} driver is not installed (no module {missing!r}); "
            "install it in this environment, or use sqlite:///FILE or a journal file path"
        ) from None
