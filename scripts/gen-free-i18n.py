#!/usr/bin/env python3
"""Regenerate module_utils/read/free_i18n.py from procps-ng's own translations.

    scripts/gen-free-i18n.py SOURCE [SOURCE ...]

A SOURCE is one of
- ``[NAME=]ROOT``: a filesystem root holding usr/share/locale/*/LC_MESSAGES/procps-ng.mo, the
  catalogs a distribution ships (an image's can be exported with `docker run ... tar`), NAME says
  what it is (e.g. "Debian 11 procps-ng 3.3.17=/tmp/bullseye");
- ``git:DIR``: a clone of procps-ng (a mirror with its release tags): the po/*.po of every release
  tag (v3.3.0 ... v4.0.x, release candidates left out), as each release was tagged.
Debian's catalogs may be newer than the tagged po files (translations are refreshed from the
Translation Project at release time), so both are read. A translation marked fuzzy is not used
by msgfmt and is skipped here too.

What it takes: the header lines and row labels free prints through gettext (free.c of every
release: the headers of 3.3.0-3.3.9, 3.3.10-3.3.16 and 3.3.17+, `-w`, the rows Mem: Low: High:
Swap: Total: Comm: and -/+ buffers/cache:, and the labels of `free -L`). Row labels are kept as
translated, spaces inside included: free prints them as they are, and the parser matches a
label at the start of a row, so that a label glued to its number (`Speicher:25276182528`) is
still split where procps put the boundary.
"""
import ast
import gettext
import glob
import os
import subprocess
import sys

# msgid (normalized) -> the columns it heads
HEADERS = {
    'total used free shared buff/cache available':
        ('total', 'used', 'free', 'shared', 'buff_cache', 'available'),
    'total used free shared buffers cache available':
        ('total', 'used', 'free', 'shared', 'buffers', 'cache', 'available'),
    'total used free shared buffers cached':
        ('total', 'used', 'free', 'shared', 'buffers', 'cache'),
}
LABELS = {'Mem:': 'mem', 'Swap:': 'swap', 'Low:': 'low', 'High:': 'high', 'Total:': 'total', 'Comm:': 'comm',
          '-/+ buffers/cache:': 'derived'}
LINE_LABELS = {'SwapUse': 'SwapUse', 'CachUse': 'CachUse', ' MemUse': 'MemUse', 'MemFree': 'MemFree'}


def norm(text):
    return ' '.join(text.split())


def mo_catalogs(root):
    for path in sorted(glob.glob(os.path.join(root, 'usr/share/locale/*/LC_MESSAGES/procps-ng.mo'))):
        with open(path, 'rb') as handle:
            yield path.split('/')[-3], gettext.GNUTranslations(handle)._catalog


def po_catalog(text):
    """msgid -> msgstr of a .po file's current (not obsolete, not fuzzy) singular entries; entries
    are separated by blank lines, as msgmerge writes them."""
    catalog = {}
    for block in text.replace('\r\n', '\n').split('\n\n'):
        lines = [line.strip() for line in block.split('\n') if line.strip()]
        if any(line.startswith('#~') for line in lines):
            continue
        if any(line.startswith('#,') and 'fuzzy' in line for line in lines):
            continue
        entry, field = {}, None
        for line in lines:
            if line.startswith('#'):
                continue
            if line.startswith('"'):
                if field:
                    entry[field] += ast.literal_eval(line)
                continue
            field, _, value = line.partition(' ')
            entry[field] = ast.literal_eval(value)
        if 'msgctxt' not in entry and entry.get('msgid') and entry.get('msgstr'):
            catalog[entry['msgid']] = entry['msgstr']
    return catalog


def git_catalogs(repo):
    tags = subprocess.run(['git', '-C', repo, 'tag'], capture_output=True, text=True, check=True).stdout.split()
    for tag in sorted(tag for tag in tags if tag.startswith('v3.3') or tag.startswith('v4')):
        if 'rc' in tag:
            continue
        names = subprocess.run(['git', '-C', repo, 'ls-tree', '--name-only', tag, 'po/'],
                               capture_output=True, text=True).stdout.split()
        for name in names:
            if name.endswith('.po'):
                text = subprocess.run(['git', '-C', repo, 'show', '%s:%s' % (tag, name)],
                                      capture_output=True, text=True, errors='replace').stdout
                yield tag, os.path.basename(name)[:-3], po_catalog(text)


def main(sources):
    headers, labels, line_labels, names = {}, {}, {}, []
    for source in sources:
        if source.startswith('git:'):
            catalogs = [(lang, catalog) for _, lang, catalog in git_catalogs(source[4:])]
            names.append('the po/*.po of every procps-ng release tag (v3.3.0 to the newest) in a clone of its git')
        else:
            name, _, root = source.rpartition('=')
            catalogs = list(mo_catalogs(root))
            names.append(name or root)
        for lang, catalog in catalogs:
            for msgid, msgstr in catalog.items():
                if not isinstance(msgid, str) or not msgstr.strip():
                    continue
                if norm(msgid) in HEADERS:
                    headers[norm(msgstr)] = HEADERS[norm(msgid)]
                elif msgid.strip() in LABELS and msgstr.strip() != msgid.strip():
                    labels[msgstr.strip()] = LABELS[msgid.strip()]
                elif msgid in LINE_LABELS and msgstr.strip() != msgid.strip():
                    line_labels[msgstr.strip()] = LINE_LABELS[msgid]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'module_utils', 'read', 'free_i18n.py')
    with open(out, 'w') as handle:
        handle.write(render(names, headers, labels, line_labels))


def render(names, headers, labels, line_labels):
    """The module's source: one entry per line, in pep8's layout (ansible-test sanity checks it)."""
    lines = ['"""Localized `free` headers and row labels, generated by scripts/gen-free-i18n.py from:']
    lines += ['%s%s' % (name, ';' if i < len(names) - 1 else '.') for i, name in enumerate(names)]
    lines += ['Row labels are as translated (spaces inside kept). Do not edit by hand."""', '', 'HEADERS = {']
    lines += ['    %r: %r,' % (key, headers[key]) for key in sorted(headers)]
    lines += ['}', '', 'LABELS = {']
    lines += ['    %r: %r,' % (key, labels[key]) for key in sorted(labels)]
    lines += ['}', '', '# `free -L` (procps-ng 4.0.4+)', 'LINE_LABELS = {']
    lines += ['    %r: %r,' % (key, line_labels[key]) for key in sorted(line_labels)]
    lines += ['}', '']
    return '\n'.join(lines)


if __name__ == '__main__':
    main(sys.argv[1:] or ['/'])
