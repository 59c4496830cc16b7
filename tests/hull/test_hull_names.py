"""One hull-name → score-key function: names pass through, files key by their sanitised stem."""

from __future__ import annotations

import pytest

from genflow.hull.names import check_score_key, score_key


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("mp2021", "mp2021"),
        ("gnome", "gnome"),
        ("my_hull-2", "my_hull-2"),
        ("mp-api:Fe-O", "mp-api_Fe-O"),
        ("/data/hull.csv.gz", "hull_csv"),
        ("refs/my hull.json", "my_hull"),
    ],
)
def test_score_key(name: str, key: str) -> None:
    assert score_key(name) == key
    assert check_score_key(key) == key


@pytest.mark.parametrize("name", ["", "/", None])
def test_score_key_refuses_what_gives_no_key(name) -> None:
    with pytest.raises(ValueError, match="cannot key scores"):
        score_key(name)


@pytest.mark.parametrize("name", ["/data/hull.csv.gz", "a.b", "", "$x", None])
def test_check_score_key_refuses_paths_and_symbols(name) -> None:
    with pytest.raises(ValueError, match="cannot key scores"):
        check_score_key(name)
