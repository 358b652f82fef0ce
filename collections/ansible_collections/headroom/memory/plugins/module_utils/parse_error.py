"""The one exception the parsers raise: everything a caller needs to tell the user what was wrong."""


class ParseError(ValueError):
    """Input that a parser cannot read.

    The message names what was expected and quotes the offending line, so a
    module can pass it to ``fail_json`` as it is.
    """

    def __init__(self, what, line=None, lineno=None):
        self.what = what
        self.line = line
        self.lineno = lineno
        msg = what
        if line is not None:
            where = 'line %d' % lineno if lineno is not None else 'line'
            msg = '%s; %s: %r' % (what, where, _clip(line))
        super(ParseError, self).__init__(msg)


def _clip(line, width=200):
    return line if len(line) <= width else line[:width] + '...'
