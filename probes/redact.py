"""Secret redaction for the command lines probes record (samples and run.json end up in PRs)."""

from __future__ import annotations

import re
from collections.abc import Sequence

MASK = "***"
CMD_MAX = 120

# Option or variable names whose value is a secret: --password, --hf-token, --api-key,
# --aws-secret-access-key, API_KEY=..., DB_PASSWD=...
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "token", "secret", "credential",
    "credentials", "auth", "key", "apikey", "accesskey", "privatekey", "secretkey",
})
# scheme://user:password@host -> scheme://user:***@host (postgresql://, redis://, ray://, https://...).
# The password runs to the last `@` before the host, so one holding `/`, `:` or `@` is masked whole
# (a port and path before a later `@` may be masked too, which leaks nothing).
_URL_CREDENTIALS = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)\S+?(?=@[^@\s/?#]*(?:[/?#\s]|$))"
)
# ?password=pw, &token=..., ;pwd=... in a URL's query (SQLAlchemy and libpq take these).
_QUERY_SECRET = re.compile(r"(?P<head>[?&;](?P<name>[A-Za-z0-9_.\-]+)=)(?P<value>[^&;\s#]*)")


def _is_secret_name(name: str) -> bool:
    """True when the last word of an option or variable name is a secret word (`--hf-token`,
    `API_KEY`; not `--monkey`)."""
    words = [w for w in re.split(r"[-_.]", name.lstrip("-").lower()) if w]
    return bool(words) and words[-1] in _SECRET_WORDS


def redact(text: str) -> str:
    """`text` with every URL secret masked: `user:pw@` userinfo (any scheme, Ray's `ray://`
    included) and secret query parameters (`?password=`, `&token=`, `pwd=`, `secret=`, ...).
    The one function for everything corebench writes or prints."""
    text = _URL_CREDENTIALS.sub(lambda m: m.group("head") + MASK, text)
    return _QUERY_SECRET.sub(
        lambda m: m.group("head") + MASK if m.group("value") and _is_secret_name(m.group("name")) else m.group(0),
        text,
    )


def redact_arg(arg: str) -> str:
    """One argument with credentials in URLs and `name=value` secrets masked."""
    arg = redact(arg)
    if "=" in arg:
        name, _, value = arg.partition("=")
        if value and _is_secret_name(name) and not name.startswith("http"):
            return f"{name}={MASK}"
    return arg


def redact_args(args: Sequence[str]) -> list[str]:
    """A command line with secrets masked: URL credentials, `name=value` secrets, and the value
    after a secret option (`--password hunter2`)."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next and not arg.startswith("-"):
            out.append(MASK)
            hide_next = False
            continue
        hide_next = False
        if arg.startswith("-") and "=" not in arg and _is_secret_name(arg):
            hide_next = True
        out.append(redact_arg(arg))
    return out


def redact_cmdline(args: Sequence[str], limit: int = CMD_MAX) -> str:
    """Join a command line for display: secrets masked first, then cut to `limit` characters."""
    out = redact_args(args)
    text = " ".join(a for a in out if a != "" or len(out) == 1)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
