"""The chaos run's code scan (nothing from outside is unpickled or evaluated) as a test, so the
suite catches what ``bench/chaos.py``'s security scenario would."""

from __future__ import annotations

from pathlib import Path

from bench.chaosrun.security import deserialising_places


def test_numeraud_deserialises_only_in_its_listed_safe_places() -> None:
    places, unsafe = deserialising_places()
    assert places, "the scan found none of the known safe places: it searched nothing"
    assert unsafe == []


def test_the_scan_flags_a_pickle_call_and_not_a_variable_or_a_docstring_about_pickles(tmp_path: Path) -> None:
    code = tmp_path / "numeraud" / "x.py"
    code.parent.mkdir()
    (tmp_path / "handlers").mkdir()
    code.write_text(
        '"""A pickle file."""\nstored = path.pickle_of(token)\ndata = pickle.loads(blob)\n', encoding="utf-8"
    )
    places, unsafe = deserialising_places(tmp_path)
    assert unsafe == places == [("numeraud/x.py", 3, "data = pickle.loads(blob)")]
