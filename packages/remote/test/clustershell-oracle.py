#!/usr/bin/env python3
"""The oracle of galley's NodeSet differential test: ClusterShell's own NodeSet (Debian's
python3-clustershell) answers every expression of a corpus in one process.

stdin:  first line {"sources": {name: {group: expression}}, "default": name}, then one JSON line per
        expression: {"expr": "..."}.
stdout: one JSON line per expression: {"ok": true, "hosts": [...], "fold": "...", "count": n} or
        {"ok": false, "error": "..."}.

Group sources behave as ClusterShell's YAML (groups.d) sources: `@*` is the `all` group when
there is one, else the union of every group. One deliberate difference, galley's: a group the
source does not define is refused (ClusterShell reads it as empty, so `a[1-9]!@typo` would remove
nothing), so the oracle's sources refuse it too.
"""
import json
import sys

from ClusterShell.NodeSet import NodeSet
from ClusterShell.NodeUtils import GroupResolver, GroupSource, GroupSourceQueryFailed


class StrictGroupSource(GroupSource):
    """A YAML-like source that refuses unknown groups, as galley does."""

    def resolv_map(self, group):
        if group not in self.groups:
            raise GroupSourceQueryFailed('no group %s' % group, self)
        return self.groups[group]


def resolver(spec):
    sources = spec.get('sources', {})
    default = spec.get('default')
    objs = {name: StrictGroupSource(name, dict(groups), groups.get('all')) for name, groups in sources.items()}
    res = GroupResolver(objs.get(default), illegal_chars=set('@,!&^*'))
    for name, src in objs.items():
        if name != default:
            res.add_source(src)
    return res


def main():
    spec = json.loads(sys.stdin.readline())
    res = resolver(spec)
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        expr = json.loads(line)['expr']
        try:
            ns = NodeSet(expr, resolver=res)
            answer = {'ok': True, 'hosts': list(ns), 'fold': str(ns), 'count': len(ns)}
        except Exception as exc:  # every refusal counts, whatever its class
            answer = {'ok': False, 'error': '%s: %s' % (exc.__class__.__name__, exc)}
        out.write(json.dumps(answer) + '\n')
    out.flush()


if __name__ == '__main__':
    main()
