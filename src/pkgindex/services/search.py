"""Ranked search over packages and grids, in the original's result shape.

The database picks the candidates (full-text match, see ``repositories.search``); the ranking below
is computed here, in one place, the same on every backend.

The weight of a hit, higher first (documented on ``SearchResult.weight``):

* ``EXACT_MATCH_POINTS`` when the title or slug equals the query, case and surrounding space aside,
  with or without a leading ``django-``; ``VERBATIM_MATCH_POINTS`` more when it equals the query as
  typed (so ``django-filter`` beats ``filter`` for the query ``django-filter``);
* up to ``TITLE_WORD_POINTS`` for the share of query words that begin a word of the title or slug,
  and up to ``DESCRIPTION_WORD_POINTS`` for the share found only in the description;
* ``POINTS_PER_TENFOLD_STARS`` per factor of ten of repository stars, at most
  ``MAX_POPULARITY_POINTS`` (grids have no stars).

An exact match therefore always outranks every other hit. Ties go to packages before grids, then to
more stars, then by title.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.repositories.grids import GridRepository
from pkgindex.repositories.packages import PackageRepository
from pkgindex.repositories.search import PREFIX, exact_forms, normalize, query_words, words

MAX_RESULTS = 20
# How many candidates of each kind the database hands over for ranking.
CANDIDATES = 200
EXACT_MATCH_POINTS = 1000
VERBATIM_MATCH_POINTS = 100
TITLE_WORD_POINTS = 100
DESCRIPTION_WORD_POINTS = 50
POINTS_PER_TENFOLD_STARS = 10
MAX_POPULARITY_POINTS = 100


@dataclass(frozen=True)
class SearchHit:
    item_type: str
    title: str
    slug: str
    description: str
    category: str
    repo_watchers: int
    repo_forks: int
    participants: list[str]
    created: datetime
    modified: datetime
    last_committed: datetime | None
    weight: int

    @property
    def title_no_prefix(self) -> str:
        return strip_prefix(self.title)

    @property
    def slug_no_prefix(self) -> str:
        return strip_prefix(self.slug)

    @property
    def clean_title(self) -> str:
        return re.sub(r"[^a-z0-9]", "", self.title.lower())

    @property
    def absolute_url(self) -> str:
        return f"/packages/p/{self.slug}/" if self.item_type == "package" else f"/grids/g/{self.slug}/"


def strip_prefix(name: str) -> str:
    return name[len(PREFIX) :] if name.lower().startswith(PREFIX) else name


def _lower_words(text: str) -> set[str]:
    return {word.lower() for word in words(text)}


def weight(q: str, title: str, slug: str, description: str, stars: int) -> int:
    """The documented score of one hit (see the module docstring)."""
    names = {normalize(title), normalize(slug)}
    points = 0
    if names & set(exact_forms(q)):
        points += EXACT_MATCH_POINTS
        if normalize(q) in names:
            points += VERBATIM_MATCH_POINTS
    query = [word.lower() for word in query_words(q)]
    if query:
        title_words = _lower_words(f"{title} {slug}")
        description_words = _lower_words(description)
        in_title = sum(any(w.startswith(word) for w in title_words) for word in query)
        in_description = sum(
            not any(w.startswith(word) for w in title_words)
            and any(w.startswith(word) for w in description_words)
            for word in query
        )
        points += round(TITLE_WORD_POINTS * in_title / len(query))
        points += round(DESCRIPTION_WORD_POINTS * in_description / len(query))
    popularity = round(POINTS_PER_TENFOLD_STARS * math.log10(1 + max(stars, 0)))
    return points + min(popularity, MAX_POPULARITY_POINTS)


async def search(session: AsyncSession, q: str) -> list[SearchHit]:
    """At most ``MAX_RESULTS`` packages and grids for ``q``, highest weight first; none when ``q`` has
    no words (empty or punctuation only)."""
    if not query_words(q):
        return []
    hits: list[SearchHit] = []
    for package, category_title in await PackageRepository(session).search_candidates(q, CANDIDATES):
        hits.append(
            SearchHit(
                item_type="package",
                title=package.title,
                slug=package.slug,
                description=package.repo_description,
                category=category_title,
                repo_watchers=package.repo_watchers,
                repo_forks=package.repo_forks,
                participants=package.participants,
                created=package.created,
                modified=package.modified,
                last_committed=package.last_updated,
                weight=weight(
                    q, package.title, package.slug, package.repo_description, package.repo_watchers
                ),
            )
        )
    for grid in await GridRepository(session).search_candidates(q, CANDIDATES):
        hits.append(
            SearchHit(
                item_type="grid",
                title=grid.title,
                slug=grid.slug,
                description=grid.description,
                category="",
                repo_watchers=0,
                repo_forks=0,
                participants=[],
                created=grid.created,
                modified=grid.modified,
                last_committed=None,
                weight=weight(q, grid.title, grid.slug, grid.description, 0),
            )
        )
    hits.sort(
        key=lambda hit: (
            -hit.weight,
            hit.item_type != "package",
            -hit.repo_watchers,
            hit.title.lower(),
            hit.slug,
        )
    )
    return hits[:MAX_RESULTS]
