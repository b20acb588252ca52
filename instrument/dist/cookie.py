"""The cookie: where it comes from, and how it is kept out of logs.

Resolution order (first that is set wins): the ``cookie=`` argument of ``Node.connect``,
the ``Node(cookie=...)`` default, the environment variable ``ELIXIR_SCOPE_COOKIE``, the
file ``~/.erlang.cookie`` (as ``erl`` itself reads it). The value lives only inside a
``Cookie`` object whose ``repr``/``str`` are redacted, so it cannot leak through a log line,
a traceback's locals printer or an exception message.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["Cookie", "resolve_cookie", "read_cookie_file", "ENV_VAR", "FILE_ENV_VAR", "NoCookie", "CookieFileError"]

ENV_VAR = "ELIXIR_SCOPE_COOKIE"
FILE_ENV_VAR = "ELIXIR_SCOPE_COOKIE_FILE"
# A cookie file holds one short line; anything bigger is the wrong file.
_MAX_COOKIE_FILE = 4096


class CookieFileError(ValueError):
    """A cookie file that cannot be used (missing, unreadable, empty, too big). The message
    names the file, never its content."""


class NoCookie(LookupError):
    """No cookie was given anywhere."""

    def __init__(self) -> None:
        super().__init__(
            f"no cookie: pass cookie=..., set {ENV_VAR}, or create ~/.erlang.cookie "
            "(the target node's -setcookie value)"
        )


class Cookie:
    """A secret cookie. Only ``digest`` uses the value."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        if not isinstance(secret, str) or not secret:
            raise ValueError("a cookie is a non-empty string")
        self._secret = secret

    def digest(self, challenge: int) -> bytes:
        """MD5(cookie ++ challenge as an unsigned decimal), as ``dist_util:gen_digest/2``."""
        return hashlib.md5(self._secret.encode("latin-1", "replace") + str(challenge).encode()).digest()

    def __repr__(self) -> str:
        return "Cookie(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cookie) and other._secret == self._secret

    def __hash__(self) -> int:
        return hash((Cookie, self._secret))

    def __reduce__(self):
        raise TypeError("a Cookie is not picklable (it would write the secret out)")


def read_cookie_file(path: "str | os.PathLike[str]") -> Cookie:
    """The cookie in ``path`` (its first line, stripped; like ``~/.erlang.cookie``).

    Passing a file keeps the cookie out of the process list (``ps`` shows ``--cookie SECRET``
    to every user of the machine)."""
    p = Path(path).expanduser()
    try:
        size = p.stat().st_size
        if size > _MAX_COOKIE_FILE:
            raise CookieFileError(f"cookie file {p} is {size} bytes; a cookie file holds one short line "
                                  "(is it the right file?)")
        text = p.read_text(encoding="latin-1")
    except FileNotFoundError:
        raise CookieFileError(f"cookie file {p} does not exist; create it with the node's cookie "
                              "(e.g. copy ~/.erlang.cookie) or give the cookie via $ELIXIR_SCOPE_COOKIE") from None
    except IsADirectoryError:
        raise CookieFileError(f"cookie file {p} is a directory; pass the file that holds the cookie") from None
    except OSError as exc:
        raise CookieFileError(f"cannot read the cookie file {p}: {exc.strerror}") from None
    lines = text.strip().splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise CookieFileError(f"cookie file {p} is empty; write the node's cookie into it")
    return Cookie(secret)


def resolve_cookie(*candidates: "str | Cookie | None", home: Path | None = None) -> Cookie:
    """The first given candidate, else ``$ELIXIR_SCOPE_COOKIE``, else ``~/.erlang.cookie``."""
    for c in candidates:
        if isinstance(c, Cookie):
            return c
        if c:
            return Cookie(c)
    env = os.environ.get(ENV_VAR)
    if env:
        return Cookie(env)
    path = (home or Path.home()) / ".erlang.cookie"
    try:
        text = path.read_text(encoding="latin-1").strip()
    except OSError:
        text = ""
    if text:
        return Cookie(text)
    raise NoCookie()
