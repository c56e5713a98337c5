from typing import Any

import httpx


async def test_package_detail_round_trips(make_client: Any, loaded: dict[str, Any]) -> None:
    expected = loaded["packages"][0]
    async with make_client(base_url="https://djangopackages.org", timezone="America/New_York") as client:
        response = await client.get(f"/api/v4/packages/{expected['id']}/")
    assert response.status_code == 200
    assert response.json() == expected


async def test_list_counts(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    response = await client.get("/api/v4/packages/")
    assert response.json()["count"] == len(loaded["packages"])
