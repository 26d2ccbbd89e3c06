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
