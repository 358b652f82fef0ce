"""A module's result is plain data of a bounded size: checked before Ansible copies it."""
from ansible_collections.headroom.memory.plugins.module_utils.result import MAX_RESULT_BYTES, result_problem


def test_plain_data_passes():
    assert result_problem({'changed': False, 'ansible_facts': {'free': {'mem': {'total': 1}, 'samples': [{}]}}}) is None


def test_a_result_that_holds_itself_is_named_not_copied():
    facts = {'mem': {'total': 1}}
    facts['samples'] = [facts]
    assert result_problem({'ansible_facts': {'free': facts}}) == 'it is not plain data (Circular reference detected)'


def test_a_result_over_its_bound_is_named():
    problem = result_problem({'rows': ['x' * 1000] * (MAX_RESULT_BYTES // 1000)})
    assert problem.startswith('it is ') and problem.endswith('bytes as JSON, over its bound of %d' % MAX_RESULT_BYTES)


def test_a_result_nested_without_end_is_named():
    deep = []
    for _ in range(100000):
        deep = [deep]
    assert result_problem({'deep': deep}) == 'it is nested too deep to send'
