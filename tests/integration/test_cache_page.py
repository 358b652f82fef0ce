"""page_cache_drop on this machine's real kernel, through ansible.

Dropping the page cache is global to the kernel (and harmless: clean pages only); the
forced drop needs root.
"""

import os

import pytest

PAGE_TASK = 'Sync and drop clean caches if available memory is below the threshold'


def _meminfo_available_percent():
    values = {}
    with open('/proc/meminfo') as handle:
        for line in handle:
            name, rest = line.split(':', 1)
            values[name] = int(rest.split()[0])
    return 100.0 * values['MemAvailable'] / values['MemTotal']


def test_healthy_host_changes_nothing_and_says_why(ansible_run, tmp_path):
    available = _meminfo_available_percent()
    threshold = max(0.0, round(available - 5, 1))
    rc, tasks, output = ansible_run.role(tmp_path, {'cache_flush_redis_enabled': False,
                                                    'cache_flush_page_cache_threshold_percent': threshold})
    assert rc == 0, output
    result = tasks[PAGE_TASK]
    assert result['changed'] is False and result['dropped'] is False
    assert result['source'] == '/proc/meminfo'
    assert 'memory is not short, caches left alone' in result['reason']
    assert result['regained'] is None


def test_callers_diagnosis_wins_over_meminfo(ansible_run, tmp_path):
    rc, tasks, output = ansible_run.role(tmp_path, {'cache_flush_redis_enabled': False,
                                                    'cache_flush_page_cache_threshold_percent': 10.0,
                                                    'cache_flush_page_cache_available_percent': 3.5},
                                         check=True)
    assert rc == 0, output
    result = tasks[PAGE_TASK]
    assert result['source'] == 'caller' and result['available_percent'] == 3.5
    assert result['changed'] is True and 'check mode' in result['reason'] and result['regained'] is None


def test_lead_diagnosis_fact_is_used_when_present(ansible_run, tmp_path):
    # The shape memory_facts exports: ansible_facts.headroom.audit.usable_pct (cacheable:
    # a module's ansible_facts land there; a plain set_fact would not).
    playbook = tmp_path / 'with_fact.yml'
    playbook.write_text(
        '- name: Diagnose, then flush\n  hosts: localhost\n  tasks:\n'
        '    - name: Pretend the diagnosis ran\n      ansible.builtin.set_fact:\n'
        '        headroom: {audit: {usable_pct: 97.0}}\n        cacheable: true\n'
        '    - name: Apply cache_flush\n      ansible.builtin.include_role:\n        name: headroom.memory.cache_flush\n'
        '      vars:\n        cache_flush_redis_enabled: false\n')
    rc, tasks, output = ansible_run.playbook(playbook)
    assert rc == 0, output
    result = tasks[PAGE_TASK]
    assert result['source'] == 'caller' and result['available_percent'] == 97.0 and not result['changed']


@pytest.mark.skipif(os.geteuid() != 0, reason='writing /proc/sys/vm/drop_caches needs root')
def test_short_memory_drops_and_measures(ansible_run, tmp_path):
    # Fill the page cache with a file we just wrote, so there is something clean to drop.
    blob = tmp_path / 'blob'
    with open(blob, 'wb') as handle:
        handle.write(os.urandom(64 * 1024 * 1024))
    with open(blob, 'rb') as handle:
        while handle.read(1 << 20):
            pass
    result, output = ansible_run.module('page_cache_drop', {'threshold_percent': 100})
    assert result['changed'] is True and result['dropped'] is True, output
    regained = result['regained']
    assert 'memory is short' in result['reason']
    # our own 64 MiB were cached before; they are gone after, whatever else the host does
    assert regained['cache_bytes_dropped'] >= 32 * 1024 * 1024
    assert regained['cache_bytes_after'] < regained['cache_bytes_before']
    assert regained['mem_free_gained'] > 0
