#!/usr/bin/env python3
"""Writes pve-8.4-apidoc.subset.json from the full Proxmox VE API-viewer schema.

Usage: python3 make-subset.py FULL.json > pve-8.4-apidoc.subset.json

Keeps the nodes whose path is one of PATHS or lies below a PREFIXES entry, as a flat JSON
array sorted by path, each node reduced to {info, leaf, path, text} (its `children` dropped);
nothing else is edited. Run it when the simulator implements a new endpoint, then update the
digest in SOURCES.md and in the pve-sim test that checks it.
"""
import json
import sys

# Exactly these paths ...
PATHS = {
    "/version", "/cluster/resources", "/cluster/nextid", "/nodes", "/access/permissions",
    "/nodes/{node}/aplinfo", "/nodes/{node}/tasks/{upid}/status",
    "/nodes/{node}/tasks/{upid}/log", "/nodes/{node}/storage/{storage}/download-url",
}
# ... and these with everything below them.
PREFIXES = (
    "/cluster/ha/resources", "/cluster/ha/groups", "/nodes/{node}/qemu", "/nodes/{node}/lxc",
    "/nodes/{node}/storage/{storage}/content", "/nodes/{node}/network", "/pools",
)


def keep(path):
    return path in PATHS or any(path == p or path.startswith(p + "/") for p in PREFIXES)


def walk(nodes, out):
    for node in nodes:
        if keep(node["path"]):
            out.append({k: node[k] for k in ("info", "leaf", "path", "text") if k in node})
        walk(node.get("children") or [], out)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        tree = json.load(f)
    out = []
    walk(tree, out)
    out.sort(key=lambda n: n["path"])
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
