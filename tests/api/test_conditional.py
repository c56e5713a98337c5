"""Conditional requests: every GET carries a strong ETag and Cache-Control and honours If-None-Match
(304, no body); PUT, PATCH and DELETE honour If-Match (a stale tag is a 412 that changes nothing)."""

from typing import Any

import httpx
import pytest
from test_writes_common import API, Writer, first, writer

__all__ = ["writer"]  # the fixture, re-exported for pytest

READS = [
    "/api/v4/packages/",
    "/api/v4/packages/?limit=5&ordering=title",
    "/api/v4/grids/",
    "/api/v4/categories/",
    "/api/v4/",
    "/api/v4/search/?q=django",
]


async def detail_urls(client: httpx.AsyncClient) -> list[str]:
    urls = []
    for collection in ("packages", "grids", "categories"):
        item = await first(client, collection)
        urls += [f"{API}/{collection}/{item['id']}/", f"{API}/{collection}/{item['slug']}/"]
    return urls


async def test_every_get_has_an_etag_and_honours_if_none_match(
    client: httpx.AsyncClient, loaded: dict[str, Any]
) -> None:
    for url in READS + await detail_urls(client):
        response = await client.get(url)
        assert response.status_code == 200
        tag = response.headers["etag"]
        assert tag.startswith('"')
        assert tag.endswith('"')
        assert len(tag) > 10
        assert response.headers["cache-control"] == "public, max-age=0, must-revalidate"
        assert "X-Forwarded-Proto" in response.headers["vary"]
        for header in (tag, f'"other", {tag}', f"W/{tag}", "*"):
            cached = await client.get(url, headers={"If-None-Match": header})
            assert (cached.status_code, cached.content) == (304, b""), header
            assert cached.headers["etag"] == tag
            assert cached.headers["cache-control"] == response.headers["cache-control"]
        stale = await client.get(url, headers={"If-None-Match": '"stale"'})
        assert stale.status_code == 200
        assert stale.content == response.content
        head = await client.head(url, headers={"If-None-Match": tag})
        assert head.status_code == 304


async def test_the_tag_follows_the_body(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    one = await client.get("/api/v4/packages/?limit=1")
    two = await client.get("/api/v4/packages/?limit=2")
    assert one.headers["etag"] != two.headers["etag"]
    assert (await client.get("/api/v4/packages/?limit=1")).headers["etag"] == one.headers["etag"]
    # Hyperlinks depend on the host, and so does the tag.
    other = await client.get("/api/v4/packages/?limit=1", headers={"Host": "mirror.example"})
    assert other.headers["etag"] != one.headers["etag"]


@pytest.mark.parametrize("collection", ["packages", "grids", "categories"])
async def test_if_match_guards_every_change(writer: Writer, collection: str) -> None:
    item = await first(writer.client, collection)
    url = f"{API}/{collection}/{item['id']}/"
    current = (await writer.client.get(url)).headers["etag"]
    change = {"packages": {"title": "New"}, "grids": {"title": "New"}, "categories": {"title": "New"}}[
        collection
    ]
    stale = '"0123456789abcdef0123456789abcdef"'
    for header in (stale, f"W/{current}", "not a tag"):
        await writer.rejected(412, "PATCH", url, json=change, headers={"If-Match": header})
        await writer.rejected(412, "PUT", url, json=item, headers={"If-Match": header})
        await writer.rejected(412, "DELETE", url, headers={"If-Match": header})
    # The current tag (alone or in a list) lets the change through, and the answer carries the new tag.
    response = await writer.send("PATCH", url, json=change, headers={"If-Match": f"{stale}, {current}"})
    assert response.status_code == 200, response.text
    new = response.headers["etag"]
    assert new != current
    assert (await writer.client.get(url)).headers["etag"] == new
    # The tag read before the change is now stale: a second writer holding it cannot overwrite.
    await writer.rejected(412, "PATCH", url, json={"title": "Lost update"}, headers={"If-Match": current})
    # `*` matches any existing object.
    response = await writer.send("PATCH", url, json={"title": "Newer"}, headers={"If-Match": "*"})
    assert response.status_code == 200, response.text


async def test_if_match_on_delete(writer: Writer) -> None:
    grid = await first(writer.client, "grids")
    url = f"{API}/grids/{grid['id']}/"
    tag = (await writer.client.get(url)).headers["etag"]
    assert (await writer.send("DELETE", url, headers={"If-Match": tag})).status_code == 204
    await writer.rejected(404, "DELETE", url, headers={"If-Match": "*"})


async def test_a_write_answer_tag_is_the_next_get_tag(writer: Writer) -> None:
    response = await writer.send("POST", f"{API}/categories/", json={"title": "T", "slug": "t-1"})
    assert response.status_code == 201
    assert (await writer.client.get(response.headers["location"])).headers["etag"] == response.headers["etag"]
