from pydantic import BaseModel, Field

from pkgindex.schemas.common import Timestamp


class GridRead(BaseModel):
    id: int
    title: str
    slug: str
    description: str
    is_locked: bool
    packages: list[str] = Field(description="Hyperlinks of the grid's packages, by package title.")
    header: bool
    created: Timestamp
    modified: Timestamp
