"""cleanup.remove_tree removes any tree student code can build — thousands of levels deep, with links
and unreadable folders — without recursion and without following a link."""
import os
import tempfile
from pathlib import Path

import pytest

from autograder.harness import cleanup
from autograder.selftests.conftest import IS_ROOT


# Not the sandbox user (nobody): graders running in parallel kill that user's processes.
OTHER_UID = 54321


def build_deep_tree(root, levels=3000, decoy=None):
    """A tree ``levels`` deep (deeper than the recursion limit, and with paths longer than
    PATH_MAX), with a file, a link to ``decoy`` and a locked folder every 500 levels, and a
    folder near the top that cannot be listed."""
    root.mkdir()
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(root)
        for level in range(levels):
            os.mkdir("deep")
            os.chdir("deep")
            if level % 500 == 0:
                with open("f", "w") as f:
                    f.write("x")
                if decoy is not None:
                    os.symlink(decoy, "link")
                os.mkdir("locked")
                os.chmod("locked", 0)
    finally:
        os.fchdir(here)
        os.close(here)
    os.chmod(root / "deep" / "deep", 0o300)  # not listable
    return root


@pytest.fixture
def decoy(tmp_path):
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "keep.txt").write_text("must survive")
    return decoy


def test_removes_a_deep_tree_without_following_links(tmp_path, decoy):
    root = build_deep_tree(tmp_path / "tree", decoy=decoy)
    assert cleanup.remove_tree(root) == 0
    assert not root.exists()
    assert (decoy / "keep.txt").read_text() == "must survive"


def test_a_link_is_removed_not_followed(tmp_path, decoy):
    link = tmp_path / "link"
    link.symlink_to(decoy)
    assert cleanup.remove_tree(link) == 0
    assert not os.path.lexists(link) and (decoy / "keep.txt").exists()


def test_files_and_missing_paths(tmp_path):
    (tmp_path / "file").write_text("x")
    assert cleanup.remove_tree(tmp_path / "file") == 0 and not (tmp_path / "file").exists()
    assert cleanup.remove_tree(tmp_path / "nothing") == 0


def test_wide_folder(tmp_path):
    wide = tmp_path / "wide"
    wide.mkdir()
    for i in range(500):
        (wide / f"d{i}").mkdir()
        (wide / f"d{i}" / "f").write_text("x")
        (wide / f"f{i}").write_text("x")
    assert cleanup.remove_tree(wide) == 0 and not wide.exists()


def test_unreadable_folders_as_their_unprivileged_owner(tmp_path, request):
    """Root reads any folder; an ordinary owner must first make it readable again."""
    if IS_ROOT:
        # pytest's temporary folders are 0700 all the way up (and deeper under xdist): the child
        # gets a folder of its own that it can reach.
        area = Path(tempfile.mkdtemp(prefix="ps1-cleanup-"))
        os.chmod(area, 0o755)
        os.chown(area, OTHER_UID, OTHER_UID)
        request.addfinalizer(lambda: cleanup.remove_tree(area))
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.setgroups([])
                os.setgid(OTHER_UID)
                os.setuid(OTHER_UID)
                os.chdir(area)  # build_deep_tree comes back to the working folder, which may be 0700 (a mktemp clone)
                build_deep_tree(area / "tree", levels=300)
                os.chmod(area / "tree", 0o100)  # search only: not listable, not writable
                code = 0 if cleanup.remove_tree(area / "tree") == 0 and not os.path.lexists(area / "tree") else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    else:
        tree = build_deep_tree(tmp_path / "tree", levels=300)
        os.chmod(tree, 0o100)
        assert cleanup.remove_tree(tree) == 0 and not tree.exists()


def test_more_sub_folders_than_a_listing_holds(tmp_path, monkeypatch):
    """Sub-folders beyond MAX_PENDING are found by listing again: all go, and a folder whose
    sub-folders cannot be removed ends the walk instead of listing it forever."""
    monkeypatch.setattr(cleanup, "MAX_PENDING", 4)
    wide = tmp_path / "wide"
    wide.mkdir()
    for i in range(30):
        (wide / f"d{i}").mkdir()
        (wide / f"d{i}" / "f").write_text("x")
        (wide / f"e{i}").mkdir()  # empty: removed while listing
    assert cleanup.remove_tree(wide) == 0 and not wide.exists()


def test_a_folder_flood_stops_at_the_time_limit(tmp_path):
    import time
    flood = tmp_path / "flood"
    flood.mkdir()
    for i in range(3000):
        (flood / f"d{i}").mkdir()
    with pytest.raises(cleanup.OutOfTime):
        cleanup.remove_tree(flood, until=time.monotonic() - 1)
    assert cleanup.remove_tree(flood, until=time.monotonic() + 300) == 0 and not flood.exists()


def test_background_removal_takes_one_call_of_the_callers_time(tmp_path):
    """discard renames the tree aside at once; the idle-priority helper removes it later."""
    import time
    remover = cleanup.Background()
    trees = []
    for n in range(3):
        tree = tmp_path / f"test-{n}"
        build_deep_tree(tree, levels=200)
        started = time.monotonic()
        assert remover.discard(tree) == 0
        assert time.monotonic() - started < 1.0
        assert not tree.exists()
        trees.append(tree)
    helper = remover.helper
    assert helper is not None
    waited = time.monotonic() + 10  # the helper lowers its own priority as it starts
    while os.sched_getscheduler(helper.pid) != os.SCHED_IDLE and time.monotonic() < waited:
        time.sleep(0.01)
    assert os.sched_getscheduler(helper.pid) == os.SCHED_IDLE, "the helper does not run at idle priority"
    remover.close(wait=60)
    assert helper.returncode == 0
    assert os.listdir(tmp_path) == [], "the helper left trees behind"
