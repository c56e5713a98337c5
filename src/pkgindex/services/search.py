"""Ranked search over packages and grids, in the original's result shape.

The database picks the candidates (full-text match, see ``repositories.search``); the ranking below
is computed here, in one place, the same on every backend.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.repositories.grids import GridRepository
from pkgindex.repositories.packages import PackageRepository
from pkgindex.repositories.search import exact_forms, query_words

MAX_RESULTS = 20
# How many candidates of each kind the database hands over for ranking.
CANDIDATES = 200
EXACT_MATCH_POINTS = 1000
TITLE_WORD_POINTS = 100  # every query word found in the title or slug
DESCRIPTION_WORD_POINTS = 50  # every query word found only in the description
POINTS_PER_TENFOLD_STARS = 10
MAX_POPULARITY_POINTS = 100
PREFIX = "django-"


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


def weight(q: str, title: str, slug: str, description: str, stars: int) -> int:
    """The documented score (see ``SearchResult.weight``): exact match, word match, popularity."""
    forms = exact_forms(q)
    points = EXACT_MATCH_POINTS if title.lower() in forms or slug.lower() in forms else 0
    title_words = set(query_words(f"{title} {slug}"))
    description_words = set(query_words(description))
    words = query_words(q)
    for word in words:
        if any(candidate.startswith(word) for candidate in title_words):
            points += TITLE_WORD_POINTS // len(words)
        elif any(candidate.startswith(word) for candidate in description_words):
            points += DESCRIPTION_WORD_POINTS // len(words)
    popularity = round(POINTS_PER_TENFOLD_STARS * math.log10(1 + max(stars, 0)))
    return points + min(popularity, MAX_POPULARITY_POINTS)


async def search(session: AsyncSession, q: str) -> list[SearchHit]:
    """At most ``MAX_RESULTS`` packages and grids for ``q``, highest weight first."""
    if not query_words(q) and not q.strip():
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
                weight=weight(q, package.title, package.slug, package.repo_description, package.repo_watchers),
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
    hits.sort(key=lambda hit: (-hit.weight, hit.item_type != "package", hit.title.lower(), hit.slug))
    return hits[:MAX_RESULTS]
