from pathlib import Path

from pkgindex.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_lists_every_setting() -> None:
    for name in Settings.model_fields:
        assert f"`PKGINDEX_{name.upper()}`" in README, (
            f"README's settings table lacks PKGINDEX_{name.upper()}"
        )
