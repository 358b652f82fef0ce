"""The one helper that makes the directory a file is written to."""

import os


def make_parent(path, mode=0o777):
    """Makes the directory that holds ``path`` (and its parents) unless it exists.

    A file where one of those directories must be is named in the OSError, not left to makedirs' bare
    "File exists" or "Not a directory": a report directory, a history path or a drop-in set to a file."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(directory):
        return directory
    try:
        os.makedirs(directory, mode)
    except OSError as exc:
        blocker = directory
        while not os.path.lexists(blocker) and blocker != os.path.dirname(blocker):
            blocker = os.path.dirname(blocker)
        if os.path.isdir(blocker):
            raise  # not a file in the way (a permission, a full disk): makedirs' own words say it
        raise OSError(exc.errno, '%s is not a directory, and %s must be one to hold %s' % (
            blocker, directory, os.path.basename(path)))
    return directory
