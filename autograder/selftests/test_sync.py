"""The committed skeleton and fixtures are what the solution regenerates."""
import pytest

from autograder import fixtures, skeleton


def test_skeleton_is_in_sync_with_solution():
    stale = skeleton.differences()
    assert not stale, f"submission/ differs from the solution in {stale}: run `make skeleton`"


def test_fixtures_are_in_sync_with_solution():
    stale = fixtures.differences()
    assert not stale, f"fixtures differ from what the solution computes: {stale}: run `make fixtures`"


def test_skeleton_keeps_everything_but_solution_blocks():
    source = 'def f(x):\n    """Doc."""\n    # BEGIN SOLUTION: use x\n    return x + 1\n    # END SOLUTION\n\nY = 2\n'
    assert skeleton.strip_solution(source) == (
        'def f(x):\n    """Doc."""\n    raise NotImplementedError(\'Hint: use x\')\n\nY = 2\n')


@pytest.mark.parametrize("source", [
    "# BEGIN SOLUTION\nx = 1\n",
    "x = 1\n# END SOLUTION\n",
    "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n",
])
def test_skeleton_rejects_unbalanced_markers(source):
    with pytest.raises(skeleton.SkeletonError):
        skeleton.strip_solution(source)


def test_skeleton_has_no_solution_code():
    for name, text in skeleton.render().items():
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, name
