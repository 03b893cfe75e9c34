#!/usr/bin/env python3
"""Regenerates tests/sites/valid/ from tests/sites/minimal.yaml.

Each file is the minimal site written in a legal but unusual way that `validate` must accept
(tests/broken_sites.rs, `unusual_but_valid_sites_pass`, which also feeds every valid site as
JSON, with CRLF line endings and with a byte order mark, generated at test time):

- ipv6.yaml       IPv6 wherever the model takes an address (a segment, its gateway, a host,
                  upstream DNS servers, a remote syslog target);
- reordered.yaml  every mapping's keys in reverse order (sections, fields, flow mappings);
- anchors.yaml    repeated values written once with anchors and aliases.

Every replacement must match exactly once, so a change to minimal.yaml that breaks one fails
loudly here.

    python3 tests/sites/make-valid.py
"""

import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the sites
from sitegen import BODY, HERE, mutate

OUT = HERE / "valid"
MODELINE = "# yaml-language-server: $schema=../../../schemas/site.schema.json\n"


def header(what):
    return MODELINE + "".join(f"# {l}\n" for l in what.splitlines())


IPV6 = header("The minimal site plus IPv6: a segment with its gateway, a host on it, IPv6\nupstream DNS servers and an IPv6 syslog target.") + mutate(
    BODY,
    (
        "  - name: storage\n    cidr: 10.2.0.0/24\n    gateway: 10.2.0.1\n",
        "  - name: storage\n    cidr: 10.2.0.0/24\n    gateway: 10.2.0.1\n"
        "  - name: lan6\n    cidr: fd00:3::/64\n    gateway: fd00:3::1\n",
    ),
    (
        "    comment: the hypervisor behind proxmox.nodes[0], with its DHCP lease\n",
        "    comment: the hypervisor behind proxmox.nodes[0], with its DHCP lease\n"
        "  - name: ap-1\n    fqdn: ap-1.mini.test\n    address: fd00:3::21\n    segment: lan6\n",
    ),
    ("    servers: [9.9.9.9]\n", "    servers: [9.9.9.9, \"2620:fe::fe\", 2620:fe::9]\n"),
    ("      remote: 10.2.0.11\n", "      remote: \"fd00:3::11\"\n"),
)


def reverse_block(lines, indent):
    """Reverses the order of the keys of the block mapping whose keys sit at `indent`."""
    entries, current = [], None
    for line in lines:
        stripped = line[indent:]
        starts_key = (
            line.startswith(" " * indent)
            and not stripped.startswith((" ", "#", "-"))
            and re.match(r"[A-Za-z_][\w.-]*:", stripped)
        )
        if starts_key:
            current = [line]
            entries.append(current)
        elif current is None:
            entries.append([line])
        else:
            current.append(line)
    return [l for e in reversed(entries) for l in e]


def reorder(body):
    lines = body.splitlines(keepends=True)
    lines = reverse_block(lines, 0)
    out, i = [], 0
    # Reverse the fields of every top-level section that is a mapping (one level down).
    while i < len(lines):
        out.append(lines[i])
        j = i + 1
        while j < len(lines) and (lines[j].startswith("  ") and not lines[j].startswith("  -")):
            j += 1
        if j > i + 1 and not lines[i].startswith(" "):
            out.extend(reverse_block(lines[i + 1 : j], 2))
            i = j
        else:
            i += 1
    text = "".join(out)
    # Flow mappings ({slot: ..., bridge: ...}) in reverse too.
    def flip(m):
        items = [p.strip() for p in m.group(1).split(", ")]
        if any("{" in p or "[" in p or "}" in p for p in items):
            return m.group(0)
        return "{" + ", ".join(reversed(items)) + "}"

    return re.sub(r"\{([^{}\[\]]+)\}", flip, text)


REORDERED = header("The minimal site with every mapping's keys in reverse order.") + reorder(BODY)

GUEST_LXC = "      kind: lxc\n"
ANCHORS = header("The minimal site with repeated values written once: anchors and aliases.") + mutate(
    BODY,
    ("      lease_time: 1d\n      - name: DHCP-APPS", "      lease_time: &lease 1d\n      - name: DHCP-APPS"),
    ("        pool: POOL-APPS\n        lease_time: 1d\n", "        pool: POOL-APPS\n        lease_time: *lease\n"),
    ("        interface: BRIDGE-STORAGE\n        lease_time: 1d\n", "        interface: BRIDGE-STORAGE\n        lease_time: *lease\n"),
    (
        "        - {slot: rootfs, storage: nas, size: 8G}\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:05\"",
        "        - &vault_disk {slot: rootfs, storage: nas, size: 8G}\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:05\"",
    ),
    (
        "        - {slot: rootfs, storage: nas, size: 8G}\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:06\"",
        "        - *vault_disk\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:06\"",
    ),
    (
        "        - {slot: rootfs, storage: nas, size: 8G}\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:07\"",
        "        - *vault_disk\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:07\"",
    ),
    (
        "      cloud_init: {user: ubuntu, ssh_keys: [\"env:SSH_PUBLIC_KEY\"]}\n    - name: k8s-m2",
        "      cloud_init: &cloud_init {user: ubuntu, ssh_keys: [\"env:SSH_PUBLIC_KEY\"]}\n    - name: k8s-m2",
    ),
    (
        "      cloud_init: {user: ubuntu, ssh_keys: [\"env:SSH_PUBLIC_KEY\"]}\n    - name: k8s-m3",
        "      cloud_init: *cloud_init\n    - name: k8s-m3",
    ),
    (
        "      cloud_init: {user: ubuntu, ssh_keys: [\"env:SSH_PUBLIC_KEY\"]}\n    - name: k8s-w1",
        "      cloud_init: *cloud_init\n    - name: k8s-w1",
    ),
    ("      policies: [ci-read]\n", "      policies: &ci [ci-read]\n"),
    ("      - {name: backup, policies: [ci-read], token_ttl: 1h}\n", "      - {name: backup, policies: *ci, token_ttl: 1h}\n"),
    ("      - {name: admin, policies: [ci-read],", "      - {name: admin, policies: *ci,"),
)


def main():
    OUT.mkdir(exist_ok=True)
    for name, text in {"ipv6.yaml": IPV6, "reordered.yaml": REORDERED, "anchors.yaml": ANCHORS}.items():
        (OUT / name).write_text(text)
    print(f"wrote 3 valid sites to {OUT}")


if __name__ == "__main__":
    main()
