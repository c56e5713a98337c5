"""Domain errors. Each carries the HTTP status the API answers with; nothing here knows HTTP."""


class PkgIndexError(Exception):
    status = 500


class NotFound(PkgIndexError):
    status = 404


class InvalidQuery(PkgIndexError):
    """A query parameter the client sent cannot be used; ``field`` names it."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Conflict(PkgIndexError):
    status = 409


class ImportFailed(PkgIndexError):
    """A record of an import file is malformed; the message names file, record and field."""

    status = 422


class InvalidField(PkgIndexError):
    """A field of a request body cannot be used; ``loc`` is its path within the body."""

    status = 422

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{'.'.join(str(part) for part in loc)}: {message}")
        self.loc = loc
        self.message = message


class DuplicateValue(Conflict):
    """A unique field (slug, repo_url) already belongs to another row; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.loc: tuple[str | int, ...] = (field,)
        self.message = message


class InUse(Conflict):
    """The row cannot be deleted while others still refer to it."""


class PreconditionFailed(PkgIndexError):
    """An ``If-Match`` precondition does not hold: the client's copy is stale."""

    status = 412
