"""Building blocks of the request bodies of the write routes (POST, PUT, PATCH).

A write body has the read shape: a GET body sent back unchanged is a valid write that changes nothing.
Relations may be given as a hyperlink, an id or a slug; the fields pkgindex computes itself are
accepted, ignored, and marked ``readOnly`` in the OpenAPI document.

Formats that the import does not enforce (URLs, the code host of ``repo_url``, slugs made of digits)
are checked by the editing service on values that change, so a stored value always round-trips.
"""

import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SkipValidation, StrictInt

from pkgindex.schemas.records import SLUG_PATTERN

# Code hosts a repo_url may point at (and their subdomains, e.g. ``foss.heptapod.net``).
KNOWN_CODE_HOSTS = (
    "github.com",
    "gitlab.com",
    "bitbucket.org",
    "codeberg.org",
    "sr.ht",
    "sourceforge.net",
    "launchpad.net",
    "gitea.com",
    "heptapod.net",
    "framagit.org",
    "salsa.debian.org",
)
MAX_REFERENCE_LENGTH = 2000


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no database driver can encode a lone surrogate.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Storable = AfterValidator(_storable)
NotBlank = AfterValidator(_not_blank)
SLUG_HELP = "Letters, digits, '-' and '_'; not digits only (it would read as an id)."

Text = Annotated[str, Storable]
Title50 = Annotated[str, Field(min_length=1, max_length=50), Storable, NotBlank]
Title100 = Annotated[str, Field(min_length=1, max_length=100), Storable, NotBlank]
Text50 = Annotated[str, Field(max_length=50), Storable]
Url255 = Annotated[str, Field(max_length=255), Storable]
Slug50 = Annotated[str, Field(min_length=1, max_length=50, pattern=SLUG_PATTERN, description=SLUG_HELP)]
Slug100 = Annotated[str, Field(min_length=1, max_length=100, pattern=SLUG_PATTERN, description=SLUG_HELP)]


def _reference_to(kind: str) -> Callable[[int | str], int | str]:
    hyperlink = re.compile(rf"^https?://[^/?#]+(?:/[^?#]*)?/{kind}/([^/?#]+)/?$")

    def reference(value: int | str) -> int | str:
        """An int is an id; a string is an id or a slug, or a hyperlink ending in one."""
        if isinstance(value, int):
            return value
        _storable(value)
        if "/" in value:
            match = hyperlink.match(value)
            if match is None:
                raise ValueError(f"not a hyperlink ending in /{kind}/<id or slug>/")
            return match.group(1)
        return value

    return reference


RefText = Annotated[str, Field(min_length=1, max_length=MAX_REFERENCE_LENGTH)]
CategoryRef = Annotated[
    StrictInt | RefText,
    AfterValidator(_reference_to("categories")),
    Field(description="The category as its hyperlink, id or slug."),
]
GridRef = Annotated[
    StrictInt | RefText,
    AfterValidator(_reference_to("grids")),
    Field(description="A grid as its hyperlink, id or slug."),
]
PackageRef = Annotated[
    StrictInt | RefText,
    AfterValidator(_reference_to("packages")),
    Field(description="A package as its hyperlink, id or slug."),
]

READ_ONLY = "Read-only: accepted in a request body and ignored."


def read_only(**schema: Any) -> Any:
    """A field of the read shape that a write accepts and ignores, whatever its value."""
    return Field(default=None, description=READ_ONLY, json_schema_extra={"readOnly": True, **schema})


# Values of read-only fields are never looked at, so they are not validated either.
Ignored: Any = SkipValidation()  # type: ignore[type-arg]


def absent(description: str | None = None) -> Any:
    """A PATCH field: when absent it is left unchanged (routes read ``model_dump(exclude_unset=True)``);
    null is accepted only where the field is nullable."""
    return Field(default=None, description=description)


def http_url_problem(value: str) -> str | None:
    """Why ``value`` is not an absolute http(s) URL, or None when it is one."""
    if any(char.isspace() for char in value):
        return "must be an http(s) URL without spaces"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return "must be an http(s) URL"
    del port
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    return None


def repo_url_problem(value: str) -> str | None:
    """Why ``value`` is not empty or an http(s) URL of a repository on a known code host."""
    if value == "":
        return None
    if problem := http_url_problem(value):
        return problem
    host = (urlsplit(value).hostname or "").lower().removeprefix("www.")
    if not any(host == known or host.endswith("." + known) for known in KNOWN_CODE_HOSTS):
        return f"must be on a known code host ({', '.join(KNOWN_CODE_HOSTS)})"
    return None


def slug_problem(value: str) -> str | None:
    """Why ``value`` cannot be a new slug: digits only would be read as an id in URLs."""
    return "must not be digits only (it would be read as an id)" if value.isdigit() else None
