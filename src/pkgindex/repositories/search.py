"""Full-text matching: PostgreSQL ``tsvector`` with a GIN index, SQLite FTS5 tables.

Both backends index the same text (title, slug, description) and are asked the same question: every
word of the query, as a prefix of a word of the text. Only the words of a query (runs of letters and
digits) ever reach the match syntax, so no input can produce a syntax error.

The PostgreSQL document below must stay, character for character, the expression that
``migrations/versions/0001_initial.py`` indexes; otherwise the planner cannot use the index (a test
checks the plan).
"""

import re
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, case, column, false, func, literal_column, select, table

from pkgindex.models import Package

WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 16
PREFIX = "django-"

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


def words(text: str) -> list[str]:
    """Runs of letters and digits, as written (each backend's tokenizer folds case itself)."""
    return WORD.findall(text)


def query_words(q: str) -> list[str]:
    """The distinct words of a search query (case-insensitively), at most ``MAX_WORDS``."""
    seen: dict[str, str] = {}
    for word in words(q):
        seen.setdefault(word.lower(), word)
    return list(seen.values())[:MAX_WORDS]


def normalize(q: str) -> str:
    """The query as compared with titles and slugs: lowercase, single spaces, no NUL."""
    return " ".join(q.replace("\x00", " ").split()).lower()


def exact_forms(q: str) -> list[str]:
    """What an exact title or slug match may equal: the query with and without a leading ``django-``."""
    bare = normalize(q)
    stripped = bare.removeprefix(PREFIX)
    return sorted(form for form in {bare, stripped, PREFIX + stripped} if form and form != PREFIX)


def _description(model: Any) -> Any:
    return model.repo_description if model is Package else model.description


def _pg_document(model: Any) -> ColumnElement[Any]:
    """``to_tsvector('simple', regexp_replace(coalesce(title, '') || ' ' || coalesce(slug, '') || ' ' ||
    coalesce(<description>, ''), '[[:punct:]]+', ' ', 'g'))``, constants inlined as the index has them.

    ASCII punctuation becomes a space first, so ``channels.redis`` is two words (PostgreSQL's parser
    would otherwise keep it as one host name), as SQLite's tokenizer sees it."""
    space: ColumnElement[str] = literal_column("' '")
    empty: ColumnElement[str] = literal_column("''")
    text = (
        func.coalesce(model.title, empty)
        .op("||")(space)
        .op("||")(func.coalesce(model.slug, empty))
        .op("||")(space)
        .op("||")(func.coalesce(_description(model), empty))
    )
    cleaned = func.regexp_replace(text, literal_column("'[[:punct:]]+'"), space, literal_column("'g'"))
    return func.to_tsvector(literal_column("'simple'"), cleaned)


def _pg_query(query_words: list[str]) -> ColumnElement[Any]:
    return func.to_tsquery(literal_column("'simple'"), " & ".join(f"{word}:*" for word in query_words))


def _fts_query(query_words: list[str]) -> str:
    return " AND ".join(f'"{word}"*' for word in query_words)


def _matches_words(model: Any, dialect: str, query_words: list[str]) -> ColumnElement[bool]:
    if not query_words:
        return false()
    if dialect == "postgresql":
        return _pg_document(model).bool_op("@@")(_pg_query(query_words))
    name = "package_fts" if model is Package else "grid_fts"
    fts = table(name, column("rowid"))
    hits = select(fts.c.rowid).where(literal_column(name).op("MATCH")(_fts_query(query_words)))
    return model.id.in_(hits)  # type: ignore[no-any-return]


def matches(model: Any, dialect: str, q: str) -> ColumnElement[bool]:
    """A WHERE clause true for the rows of ``model`` (Package or Grid) that contain every query word
    as a prefix of one of their words; false when ``q`` has no words."""
    return _matches_words(model, dialect, query_words(q))


def rank_candidates(query: SelectT, model: Any, dialect: str, q: str) -> SelectT:
    """Restrict ``query`` to the search candidates of ``model`` for ``q`` and order them roughly as
    the final ranking will: exact title or slug matches first, then rows with every word in the title
    or slug, then the rest; more stars first within each (grids have none), then by id.

    A candidate matches every word of ``q``, or is an exact match. An exact match contains every
    word of ``q`` without its leading ``django-``, so the full-text index always narrows the scan."""
    forms = exact_forms(q)
    all_words = query_words(q)
    core_words = query_words(normalize(q).removeprefix(PREFIX)) or all_words
    exact = func.lower(model.title).in_(forms) | func.lower(model.slug).in_(forms)
    condition = _matches_words(model, dialect, core_words)
    if core_words != all_words:
        condition = and_(condition, _matches_words(model, dialect, all_words) | exact)
    in_title = and_(
        *(
            func.lower(model.title + " " + model.slug).contains(word.lower(), autoescape=True)
            for word in all_words
        )
    )
    popularity = model.repo_watchers.desc() if model is Package else model.id.desc()
    return query.where(condition).order_by(case((exact, 0), (in_title, 1), else_=2), popularity, model.id)
