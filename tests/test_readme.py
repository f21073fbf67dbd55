"""The README's settings table and commands stay true."""

from __future__ import annotations

from pathlib import Path

from antidistill.settings import DOCS, Settings, settings_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented_in_code() -> None:
    assert set(DOCS) == set(Settings.model_fields)


def test_readme_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    assert settings_markdown() in text, "regenerate with: python -m antidistill.settings"
    for name in Settings.model_fields:
        assert f"`ANTIDISTILL_{name.upper()}`" in text


def test_readme_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pip install -e '.[cli]' && antidistill demo" in text
    assert "pip install -e '.[test]' && python -m pytest" in text
