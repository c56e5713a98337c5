from pydantic import BaseModel

from pkgindex.schemas.common import Timestamp


class CategoryRead(BaseModel):
    id: int
    title: str
    slug: str
    description: str
    title_plural: str
    show_pypi: bool
    created: Timestamp
    modified: Timestamp
