"""Pure-Python core of headroom's modules: parsing and decisions, no Ansible import."""
