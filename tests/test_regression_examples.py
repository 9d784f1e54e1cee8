"""The fuzzing loop keeps what it finds: the `explore` profile (make fuzz) saves failing examples
into the committed folder, and the `regressions` profile (make test) replays exactly those,
generating nothing, so a bug found once fails every later run until it is fixed."""

from __future__ import annotations

import unittest

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase

from tests.conftest import REGRESSIONS


def test_the_profiles_save_into_and_replay_from_the_committed_folder():
    explore, replay = settings.get_profile("explore"), settings.get_profile("regressions")
    assert isinstance(explore.database, DirectoryBasedExampleDatabase) and not explore.derandomize
    assert explore.database.path == REGRESSIONS
    assert isinstance(replay.database, ReadOnlyDatabase) and replay.database._wrapped.path == REGRESSIONS
    assert set(replay.phases) == {Phase.explicit, Phase.reuse}  # no generation: repeatable
    assert settings.get_profile("repeatable").derandomize


def test_a_saved_failure_is_replayed_and_nothing_else_is_generated(tmp_path):
    found = DirectoryBasedExampleDatabase(tmp_path)
    seen: list[int] = []

    def property_(n: int) -> None:
        seen.append(n)
        assert n < 1000

    explore = settings(settings.get_profile("explore"), database=found, max_examples=500)
    with pytest.raises(AssertionError):
        settings(explore)(given(st.integers(min_value=0))(property_))()
    assert any(path.is_file() for path in tmp_path.rglob("*"))  # the failure was saved

    seen.clear()
    replay = settings(settings.get_profile("regressions"), database=ReadOnlyDatabase(found))
    with pytest.raises(AssertionError):
        replay(given(st.integers(min_value=0))(property_))()
    assert seen and all(n >= 1000 for n in seen)  # only the saved failure (shrunk to 1000), replayed

    seen.clear()
    empty = settings(settings.get_profile("regressions"), database=ReadOnlyDatabase(
        DirectoryBasedExampleDatabase(tmp_path / "nothing-saved")))
    with pytest.raises(unittest.SkipTest):  # Hypothesis: "told to run no test cases"
        empty(given(st.integers(min_value=0))(property_))()
    assert seen == []  # nothing saved: nothing run
