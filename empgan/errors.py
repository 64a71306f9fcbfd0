"""User-facing errors: bad configs, bad paths, bad images. The CLI turns them into one line + exit 2."""


class UserError(Exception):
    """An input the user can fix (a config key, a file, a value). Printed as one line, exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """A config key with a value that is not allowed. The message names the full dotted key."""

    def __init__(self, key: str, value, allowed: str, source: str | None = None):
        self.key, self.value, self.allowed, self.source = key, value, allowed, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}config key '{key}' = {value!r}: {allowed}")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line UserErrors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
