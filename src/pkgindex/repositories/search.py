"""Full-text matching: PostgreSQL ``tsvector`` with a GIN index, SQLite FTS5 tables.

Both backends index the same text (title, slug, description) and are asked the same question: every
word of the query, as a prefix. The expressions here must stay the ones the migration indexes.
"""

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, literal_column, text
from sqlalchemy.sql.elements import TextClause

from pkgindex.models import Grid, Package

WORD = re.compile(r"[^\W_]+")


def query_words(q: str) -> list[str]:
    """Lowercase words of a search query; punctuation cannot reach the match syntax."""
    return WORD.findall(q.lower())[:16]


def _pg_document(model: Any) -> ColumnElement[Any]:
    description = model.repo_description if model is Package else model.description
    return func.to_tsvector(
        literal_column("'simple'"),
        func.coalesce(model.title, "") + " " + func.coalesce(model.slug, "") + " " + func.coalesce(description, ""),
    )


def _pg_query(words: list[str]) -> ColumnElement[Any]:
    return func.to_tsquery(literal_column("'simple'"), " & ".join(f"{w}:*" for w in words))


def _fts_table(model: Any) -> str:
    return "package_fts" if model is Package else "grid_fts"


def _fts_query(words: list[str]) -> str:
    return " AND ".join(f'"{w}"*' for w in words)


def matches(model: Any, dialect: str, q: str) -> ColumnElement[bool]:
    """A WHERE clause true for the rows of ``model`` (Package or Grid) that contain every query word."""
    words = query_words(q)
    if not words:
        return false()
    if dialect == "postgresql":
        return _pg_document(model).bool_op("@@")(_pg_query(words))
    table = _fts_table(model)
    fts: TextClause = text(f"SELECT rowid FROM {table} WHERE {table} MATCH :fts_query").bindparams(
        fts_query=_fts_query(words)
    )
    return model.id.in_(fts.columns(literal_column("rowid")))  # type: ignore[no-any-return]


def exact_forms(q: str) -> list[str]:
    """What an exact title or slug match may equal: the query with and without a leading ``django-``."""
    bare = q.strip().lower()
    forms = {bare, bare.removeprefix("django-"), "django-" + bare.removeprefix("django-")}
    return sorted(form for form in forms if form)


def rank_candidates(query: Select[Any], model: Any, dialect: str, q: str) -> Select[Any]:
    """Restrict ``query`` to rows of ``model`` matching ``q`` and order them for the search ranking:
    exact title or slug matches first, then rows with every word in the title or slug, then the rest;
    more stars first within each (grids have none)."""
    forms = exact_forms(q)
    exact = func.lower(model.title).in_(forms) | model.slug.in_(forms)
    in_title = and_(
        *(func.lower(model.title + " " + model.slug).contains(word, autoescape=True) for word in query_words(q))
    )
    popularity = model.repo_watchers.desc() if model is Package else model.id.desc()
    return query.where(exact | matches(model, dialect, q)).order_by(
        case((exact, 0), (in_title, 1), else_=2), popularity, model.id
    )
