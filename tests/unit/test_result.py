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


def test_a_module_whose_result_holds_itself_fails_by_name_and_returns(tmp_path):
    """For real, as Ansible runs a module (a Python of its own, a 60 s bound here): a HeadroomModule
    whose result refers to itself returns a failure naming the defect, and does not copy it without end
    as AnsibleModule's exit_json does (remove_values walks it)."""
    import json
    import subprocess
    import sys
    from library_module import ROOT, RUNNER
    module = tmp_path / 'cyclic.py'
    module.write_text('\n'.join([
        'from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule',
        'module = HeadroomModule(argument_spec={})',
        'facts = {"mem": {"total": 1}}',
        'facts["samples"] = [facts]',
        'module.exit_json(changed=False, ansible_facts={"free": facts})']))
    args = tmp_path / 'args.json'
    args.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': {'_ansible_module_name': 'cyclic'}}))
    done = subprocess.run([sys.executable, '-c', RUNNER, ROOT, str(module), str(args)], capture_output=True,
                          text=True, timeout=60)
    result = json.loads(done.stdout)
    assert result['failed'] is True
    assert result['msg'] == ("headroom: cyclic's result is not sent: it is not plain data (Circular reference "
                             "detected); this is a defect of headroom, please report it")
