"""A fake GitHub (REST + GraphQL) and PyPI speaking the real protocols over loopback HTTP.

    state = FakeState(rest_limit=100)
    state.add_repo(FakeRepo(id=1, full_name="django/deps", stars=401, commits=[...]))
    with FakeUpstream(state) as fake:
        ...  # point the refresher at fake.github_api_url, fake.github_graphql_url, fake.pypi_url
    assert not state.violations

See ``state.py`` for the world model, faults and observation; ``app.py`` for the protocol rules.
"""

from .server import FakeUpstream
from .state import FakeProject, FakeRepo, FakeState, RequestRecord

__all__ = ["FakeProject", "FakeRepo", "FakeState", "FakeUpstream", "RequestRecord"]
