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
