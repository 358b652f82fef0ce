"""role_args' rule for empty answers (``-e name=``, an unanswered AWX survey question)."""
from ansible_collections.headroom.memory.plugins.action.role_args import blank_as_unset

SPEC = {'bucket': {'type': 'str'}, 'prefix': {'type': 'str', 'default': 'headroom/'},
        'dir': {'type': 'path', 'default': 'reports'}, 'needed': {'type': 'str', 'required': True},
        'days': {'type': 'int', 'default': 90}, 'plain': {}}


def test_an_empty_optional_text_without_a_default_is_unset_and_an_empty_path_is_named():
    values, errors = blank_as_unset(SPEC, {'bucket': '', 'prefix': '', 'dir': ' ', 'needed': '', 'days': '', 'plain': ''})
    assert values == {'bucket': None, 'prefix': '', 'dir': ' ', 'needed': '', 'days': '', 'plain': None}
    assert errors == ['dir is empty: give a path, or leave it unset for its default']


def test_answers_and_other_types_are_left_as_given():
    given = {'bucket': 'b', 'dir': '/srv/r', 'days': 0, 'needed': 'x'}
    assert blank_as_unset(SPEC, given) == (given, [])
