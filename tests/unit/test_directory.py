"""make_parent: the one helper that makes a written file's directory, and names a file in its way."""
import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.directory import make_parent
from ansible_collections.headroom.memory.plugins.module_utils.report.history import HistoryError, record_runs


def test_makes_the_parents_once_and_follows_a_symlinked_directory(tmp_path):
    target = tmp_path / 'a' / 'b' / 'r.json'
    umask = os.umask(0o022)
    try:
        assert make_parent(str(target), 0o750) == str(target.parent)
    finally:
        os.umask(umask)
    assert target.parent.is_dir() and target.parent.stat().st_mode & 0o777 == 0o750
    assert make_parent(str(target)) == str(target.parent)  # there already: nothing to do
    (tmp_path / 'link').symlink_to(tmp_path / 'a')
    assert make_parent(str(tmp_path / 'link' / 'b' / 'r.json')) == str(tmp_path / 'link' / 'b')


@pytest.mark.parametrize('below', ['', 'deeper/'])
def test_a_file_or_a_dangling_symlink_in_the_way_is_named_and_kept(tmp_path, below):
    (tmp_path / 'afile').write_text('mine')
    (tmp_path / 'dangling').symlink_to(tmp_path / 'nowhere')
    for blocker in ('afile', 'dangling'):
        target = tmp_path / blocker / below / 'x.conf'
        with pytest.raises(OSError, match='%s is not a directory, and %s must be one to hold x.conf' % (
                tmp_path / blocker, target.parent)):
            make_parent(str(target))
    assert (tmp_path / 'afile').read_text() == 'mine' and os.path.islink(str(tmp_path / 'dangling'))
    assert not (tmp_path / 'nowhere').exists()


def test_the_history_names_the_file_in_its_way(tmp_path):
    (tmp_path / 'afile').write_text('mine')
    with pytest.raises((HistoryError, OSError), match='afile is not a directory'):
        record_runs(str(tmp_path / 'afile' / 'headroom.sqlite'), 1.0, [])
    assert (tmp_path / 'afile').read_text() == 'mine'
