#!/usr/bin/env python3
"""Regenerates tests/sites/broken/ from tests/sites/minimal.yaml.

Each broken site is minimal.yaml with one small mutation. Its first line says what stderr must
contain (`# expect: SUBSTRING`); files that cannot hold a comment get a sidecar `NN-name.expect`.
Every replacement must match exactly once, so a change to minimal.yaml that breaks a mutation
fails loudly here instead of silently producing a valid "broken" site.

    python3 tests/sites/make-broken.py        # rewrites tests/sites/broken/*
"""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "broken"
BASE = (HERE / "minimal.yaml").read_text()
# Drop the modeline and the header comment: the expect line must come first.
BODY = "".join(l for l in BASE.splitlines(keepends=True)[3:])


def mutate(text, *pairs):
    """Applies each (old, new) replacement; an `old` that ends a line must match whole lines."""
    text = "\n" + text
    for old, new in pairs:
        key, rep = (("\n" + old, "\n" + new) if old.endswith("\n") else (old, new))
        n = text.count(key)
        if n != 1:
            sys.exit(f"mutation anchor found {n} times (want 1): {old!r}")
        text = text.replace(key, rep)
    return text[1:]


def yaml_case(expect, what, *pairs):
    return f"# expect: {expect}\n# {what}\n" + mutate(BODY, *pairs)


def syntax_case(name, what, pair, bad_line):
    """A syntax error: stderr must name the file and the line of `bad_line` (after mutation)."""
    text = yaml_case("@", what, pair)
    line = text.splitlines().index(bad_line.rstrip("\n")) + 1
    return text.replace("# expect: @", f"# expect: {name}:{line}:", 1)


G0_NIC = '{slot: net0, bridge: vmbr0, vlan: 20, mac: "BC:24:11:00:00:05", address: 10.3.2.5/24, segment: apps}'
G1_NIC = '{slot: net0, bridge: vmbr0, vlan: 20, mac: "BC:24:11:00:00:06", address: 10.3.2.6/24, segment: apps}'

CASES = {
    # ---- syntax: not YAML at all, or YAML the loader refuses -------------------------------
    "02-only-comments.yaml": "# expect: empty document\n# nothing but comments is an empty site\n\n   \n",
    "04-nul-byte.yaml": "# expect: not UTF-8 text\n# a NUL byte in otherwise valid text\napiVersion: rackpipe/v1\nkind: Site\x00\n",
    "05-unclosed-flow.yaml": yaml_case(
        "05-unclosed-flow.yaml:", "malformed YAML: an unclosed flow sequence",
        ("      slaves: [LAN-08, LAN-09]\n", "      slaves: [LAN-08, LAN-09\n"),
    ),
    "06-bad-indent.yaml": syntax_case(
        "06-bad-indent.yaml", "malformed YAML: a key indented into the middle of a mapping",
        ("  identity: router.mini.test\n  management:\n", "  identity: router.mini.test\n   management:\n"),
        "   management:",
    ),
    "07-tab-indent.yaml": syntax_case(
        "07-tab-indent.yaml", "malformed YAML: a tab used for indentation",
        ("  name: mini\n", "\tname: mini\n"),
        "\tname: mini",
    ),
    "08-duplicate-key.yaml": yaml_case(
        "duplicate mapping key: identity", "the same key twice in one mapping",
        ("  identity: router.mini.test\n", "  identity: router.mini.test\n  identity: router2.mini.test\n"),
    ),
    "09-duplicate-top-key.yaml": yaml_case(
        "duplicate mapping key: kind", "a whole section given twice",
        ("kind: Site\n", "kind: Site\nkind: Site\n"),
    ),
    "10-alias-bomb.yaml": "# expect: 10-alias-bomb.yaml\n# billion laughs: nine levels of nine aliases each\n"
    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
    + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi")
    )
    + "apiVersion: rackpipe/v1\nkind: Site\nmetadata: {name: bomb, domain: bomb.test}\nbomb: *i\n",
    "11-deep-nesting.yaml": "# expect: 11-deep-nesting.yaml\n# 100000 nested flow sequences\n"
    "apiVersion: rackpipe/v1\nkind: Site\nmetadata: {name: deep, domain: deep.test}\nsegments: "
    + "[" * 100_000 + "]" * 100_000 + "\n",
    "12-not-a-mapping.yaml": "# expect: 12-not-a-mapping.yaml\n# a list where the site mapping should be\n- apiVersion: rackpipe/v1\n- kind: Site\n",
    "13-scalar-document.yaml": "# expect: 13-scalar-document.yaml\n# a bare string\njust some text\n",
    "14-unterminated-quote.yaml": yaml_case(
        "14-unterminated-quote.yaml:", "malformed YAML: a quoted string that never ends",
        ("  description: Minimal valid site for the broken-site tests.\n", '  description: "Minimal valid site\n'),
    ),
    "15-undefined-alias.yaml": syntax_case(
        "15-undefined-alias.yaml", "an alias to an anchor that does not exist",
        ("  name: mini\n", "  name: *nowhere\n"),
        "  name: *nowhere",
    ),
    # ---- apiVersion / kind ----------------------------------------------------------------
    "16-wrong-api-version.yaml": yaml_case(
        ": apiVersion: ", "an apiVersion rackpipe does not speak", ("apiVersion: rackpipe/v1\n", "apiVersion: rackpipe/v2\n")
    ),
    "17-wrong-kind.yaml": yaml_case(": kind: ", "a Plan is not a Site", ("kind: Site\n", "kind: Plan\n")),
    "18-missing-api-version.yaml": yaml_case("apiVersion", "no apiVersion at all", ("apiVersion: rackpipe/v1\n", "")),
    # ---- wrong types ------------------------------------------------------------------------
    "19-type-string-for-int.yaml": yaml_case(
        "proxmox.guests[0].cores", "cores as a word",
        ("      vmid: 1005\n      node: pve-s1\n      pool: vault\n      cores: 1\n", "      vmid: 1005\n      node: pve-s1\n      pool: vault\n      cores: one\n"),
    ),
    "20-type-map-for-list.yaml": yaml_case(
        ": segments: ", "segments as a mapping instead of a list",
        ("segments:\n  - name: lan\n    cidr: 10.3.0.0/24\n    gateway: 10.3.0.1\n", "segments:\n  lan:\n    cidr: 10.3.0.0/24\n    gateway: 10.3.0.1\n"),
        ("  - name: apps\n    cidr: 10.3.2.0/24\n", "  apps:\n    cidr: 10.3.2.0/24\n"),
        ("  - name: storage\n    cidr: 10.2.0.0/24\n", "  storage:\n    cidr: 10.2.0.0/24\n"),
    ),
    "21-type-yes-is-not-bool.yaml": yaml_case(
        "router.bridges[0].vlan_filtering", "YAML 1.1 'yes' is a string, not a boolean",
        ("      vlan_filtering: true\n", "      vlan_filtering: yes\n"),
    ),
    "22-vlan-out-of-range.yaml": yaml_case("segments[1].vlan", "VLAN id 5000 (max 4094)", ("    vlan: 20\n", "    vlan: 5000\n")),
    "23-negative-port.yaml": yaml_case(
        "router.management.rest_port", "a negative port",
        ("    user: rackpipe\n", "    rest_port: -443\n    user: rackpipe\n"),
    ),
    # ---- unknown and missing fields ---------------------------------------------------------
    "24-unknown-field-typo.yaml": yaml_case(
        "router.bridges[0].vlan_filtring", "typo of vlan_filtering",
        ("      vlan_filtering: true\n", "      vlan_filtring: true\n"),
    ),
    "25-unknown-field-guest.yaml": yaml_case(
        "proxmox.guests[3].memroy_mib", "typo of memory_mib (and so memory_mib is missing too)",
        ("      memory_mib: 2048\n", "      memroy_mib: 2048\n"),
    ),
    "26-missing-domain.yaml": yaml_case("metadata", "metadata without its required domain", ("  domain: mini.test\n", "")),
    "27-missing-guest-node.yaml": yaml_case(
        "proxmox.guests[3]", "a guest that says nowhere where it runs",
        ("      vmid: 1002\n      node: pve-s1\n", "      vmid: 1002\n"),
    ),
    # ---- bad scalars --------------------------------------------------------------------------
    "28-bad-cidr-prefix.yaml": yaml_case("segments[0].cidr", "prefix /33", ("    cidr: 10.3.0.0/24\n", "    cidr: 10.3.0.0/33\n")),
    "29-cidr-host-bits.yaml": yaml_case("segments[0].cidr", "host bits set in a network", ("    cidr: 10.3.0.0/24\n", "    cidr: 10.3.0.1/24\n")),
    "30-bad-mac.yaml": yaml_case("hosts[0].mac", "five octets", ("    mac: 00:11:32:00:00:01\n", "    mac: 00:11:32:00:01\n")),
    "31-bad-duration.yaml": yaml_case(
        "router.dhcp.servers[0].lease_time", "a duration in words",
        ("        pool: POOL-LAN\n        lease_time: 1d\n", "        pool: POOL-LAN\n        lease_time: 1 day\n"),
    ),
    "32-bad-size.yaml": yaml_case(
        "proxmox.guests[3].disks[0].size", "decimal unit GB",
        ("        - {slot: rootfs, storage: local-lvm, size: 32G}\n", "        - {slot: rootfs, storage: local-lvm, size: 32GB}\n"),
    ),
    "33-bad-hostname.yaml": yaml_case("metadata.domain", "underscore in a domain", ("  domain: mini.test\n", "  domain: mini_test\n")),
    "34-secret-value.yaml": yaml_case(
        "router.management.password", "a password value where a reference belongs",
        ("    password: env:ROUTER_PASSWORD\n", "    password: hunter2\n"),
    ),
    "35-bad-enum.yaml": yaml_case("router.bonds[0].mode", "bond mode lacp (it is 802.3ad)", ("      mode: 802.3ad\n", "      mode: lacp\n")),
    "36-reversed-range.yaml": yaml_case(
        "router.pools[0].ranges[0]", "a range that ends before it starts",
        ("      ranges: [10.3.0.100-10.3.0.199]\n", "      ranges: [10.3.0.199-10.3.0.100]\n"),
    ),
    "37-bad-k8s-version.yaml": yaml_case("kubernetes.version", "version without the v and patch", ("  version: v1.31.4\n", "  version: 1.31\n")),
    "38-bad-cron.yaml": yaml_case("backups.etcd.schedule", "schedule in words", ('    schedule: "0 2 * * *"\n', "    schedule: daily\n")),
    "39-bad-ip.yaml": yaml_case("hosts[0].address", "an octet above 255", ("    address: 10.2.0.11\n    segment: storage\n", "    address: 10.2.0.311\n    segment: storage\n")),
    # ---- semantic: uniqueness ----------------------------------------------------------------
    "40-duplicate-segment-name.yaml": yaml_case("segments[1].name", "two segments named lan", ("  - name: apps\n", "  - name: lan\n")),
    "41-duplicate-guest-name.yaml": yaml_case(
        "proxmox.guests[1].name", "two guests named vault-1",
        ("    - name: vault-2\n      fqdn: vault-2.mini.test\n", "    - name: vault-1\n      fqdn: vault-2.mini.test\n"),
    ),
    "42-duplicate-bridge-vlan.yaml": yaml_case(
        "router.bridges[0].vlans[1]", "VLAN 20 twice in one bridge's VLAN table",
        ("          tagged: [BRIDGE-LAN, LAN-01, LAN-02, LAN-03]\n", "          tagged: [BRIDGE-LAN, LAN-01, LAN-02, LAN-03]\n        - vlan_ids: [20]\n          tagged: [BRIDGE-LAN]\n"),
    ),
    "43-duplicate-vlan-interface-id.yaml": yaml_case(
        "router.vlans[1]", "two VLAN interfaces with id 20 on the same bridge",
        ("      vlan_id: 20\n", "      vlan_id: 20\n    - name: VLAN-APPS-2\n      interface: BRIDGE-LAN\n      vlan_id: 20\n"),
    ),
    "44-duplicate-vmid.yaml": yaml_case("proxmox.guests[1].vmid", "two guests with VMID 1005", ("      vmid: 1006\n", "      vmid: 1005\n")),
    "45-duplicate-hostname.yaml": yaml_case(
        "proxmox.guests[1].fqdn", "two guests with the same FQDN",
        ("      fqdn: vault-2.mini.test\n", "      fqdn: vault-1.mini.test\n"),
    ),
    "46-duplicate-mac.yaml": yaml_case(
        "proxmox.guests[1].nics[0].mac", "two NICs with one MAC",
        (G1_NIC, G1_NIC.replace("00:00:06", "00:00:05")),
    ),
    "47-duplicate-address.yaml": yaml_case(
        "proxmox.guests[4].nics[0].address", "a master given the runner's address",
        ("address: 10.3.2.11/24", "address: 10.3.2.2/24"),
        ("        - {address: 10.3.2.11, rw: true}\n", "        - {address: 10.3.2.2, rw: true}\n"),
    ),
    "48-duplicate-segment-vlan.yaml": yaml_case(
        "segments[2].vlan", "two segments on VLAN 20",
        ("    cidr: 10.2.0.0/24\n    gateway: 10.2.0.1\n", "    cidr: 10.2.0.0/24\n    gateway: 10.2.0.1\n    vlan: 20\n"),
    ),
    "49-duplicate-firewall-comment.yaml": yaml_case(
        "router.firewall.filter[1].comment", "two filter rules with one identity comment",
        ("      - comment: drop from WAN\n", "      - comment: accept established\n"),
    ),
    "50-duplicate-export-path.yaml": yaml_case(
        "nas.exports[1].path", "two exports of one directory",
        ("      path: /srv/nfs/runner-cache\n", "      path: /srv/nfs/pve\n"),
    ),
    # ---- semantic: addressing ----------------------------------------------------------------
    "51-overlapping-subnets.yaml": yaml_case(
        "overlaps", "apps widened to a /16 that swallows lan",
        ("    cidr: 10.3.2.0/24\n", "    cidr: 10.3.0.0/16\n"),
    ),
    "52-host-outside-segment.yaml": yaml_case(
        "hosts[0].address", "the NAS address outside the storage segment",
        ("    address: 10.2.0.11\n    segment: storage\n", "    address: 10.9.0.11\n    segment: storage\n"),
    ),
    "53-gateway-outside-segment.yaml": yaml_case("segments[0].gateway", "gateway in another network", ("    gateway: 10.3.0.1\n", "    gateway: 10.4.0.1\n")),
    "54-vip-outside-segment.yaml": yaml_case(
        "load_balancer.vips[0].address", "VIP outside its segment",
        ("      address: 10.3.2.254\n", "      address: 10.3.9.254\n"),
    ),
    "55-pool-outside-segment.yaml": yaml_case(
        "router.pools[1].ranges[0]", "the apps pool in another network",
        ("      ranges: [10.3.2.100-10.3.2.199]\n", "      ranges: [10.3.7.100-10.3.7.199]\n"),
    ),
    "56-pool-overlaps-lease.yaml": yaml_case(
        "router.dhcp.leases[4]", "a static lease inside the dynamic pool",
        ("        comment: vault-3.mini.test\n", "        comment: vault-3.mini.test\n      - server: DHCP-APPS\n        address: 10.3.2.150\n        mac: BC:24:11:00:0F:FF\n        comment: printer.mini.test\n"),
    ),
    "57-pool-contains-gateway.yaml": yaml_case(
        "router.pools[0].ranges[0]", "the LAN pool includes the router's own address",
        ("      ranges: [10.3.0.100-10.3.0.199]\n", "      ranges: [10.3.0.1-10.3.0.199]\n"),
    ),
    "58-pool-contains-vip.yaml": yaml_case(
        "10.3.2.254", "the apps pool runs up to the VIP",
        ("      ranges: [10.3.2.100-10.3.2.199]\n", "      ranges: [10.3.2.100-10.3.2.254]\n"),
    ),
    "59-lease-outside-network.yaml": yaml_case(
        "router.dhcp.leases[0].address", "a storage lease for a LAN address",
        ("      - server: DHCP-STORAGE\n        address: 10.2.0.11\n", "      - server: DHCP-STORAGE\n        address: 10.3.0.50\n"),
    ),
    "60-nic-outside-segment.yaml": yaml_case(
        "proxmox.guests[0].nics[0].address", "a NIC address outside the NIC's segment",
        (G0_NIC, G0_NIC.replace("10.3.2.5/24", "10.3.0.5/24")),
        ("        address: 10.3.2.5\n", "        address: 10.3.0.5\n"),
    ),
    "61-nic-vlan-mismatch.yaml": yaml_case(
        "proxmox.guests[0].nics[0].vlan", "a NIC tagged 10 on a VLAN-20 segment",
        (G0_NIC, G0_NIC.replace("vlan: 20", "vlan: 10")),
    ),
    "62-dhcp-gateway-outside.yaml": yaml_case(
        "router.dhcp.networks[0].gateway", "a DHCP network whose gateway is elsewhere",
        ("      - address: 10.3.0.0/24\n        gateway: 10.3.0.1\n", "      - address: 10.3.0.0/24\n        gateway: 10.3.2.1\n"),
    ),
    # ---- semantic: dangling references -------------------------------------------------------
    "63-dangling-bridge-port.yaml": yaml_case(
        "router.bridges[0].ports[2].interface", "bridge port on an interface that does not exist",
        ("        - interface: LAN-03\n", "        - interface: LAN-42\n"),
    ),
    "64-dangling-bond-slave.yaml": yaml_case(
        "router.bonds[0].slaves", "bond slave that is not an ethernet port",
        ("      slaves: [LAN-08, LAN-09]\n", "      slaves: [LAN-08, ether99]\n"),
    ),
    "65-bond-slave-not-ethernet.yaml": yaml_case(
        "router.bonds[0].slaves", "a bridge enslaved to a bond",
        ("      slaves: [LAN-08, LAN-09]\n", "      slaves: [LAN-08, BRIDGE-LAN]\n"),
    ),
    "66-dangling-vlan-parent.yaml": yaml_case(
        "router.vlans[0].interface", "VLAN on a parent that does not exist",
        ("    - name: VLAN-APPS\n      interface: BRIDGE-LAN\n", "    - name: VLAN-APPS\n      interface: BRIDGE-NOPE\n"),
    ),
    "67-dangling-guest-node.yaml": yaml_case(
        "proxmox.guests[3].node", "guest on a Proxmox node that does not exist",
        ("      vmid: 1002\n      node: pve-s1\n", "      vmid: 1002\n      node: pve-s9\n"),
    ),
    "68-dangling-guest-storage.yaml": yaml_case(
        "proxmox.guests[3].disks[0].storage", "disk on a storage that does not exist",
        ("        - {slot: rootfs, storage: local-lvm, size: 32G}\n", "        - {slot: rootfs, storage: ceph, size: 32G}\n"),
    ),
    "69-dangling-guest-bridge.yaml": yaml_case(
        "proxmox.guests[0].nics[0].bridge", "NIC on a node bridge that does not exist",
        (G0_NIC, G0_NIC.replace("bridge: vmbr0", "bridge: vmbr9")),
    ),
    "70-dangling-lb-backend.yaml": yaml_case(
        "load_balancer.services[0].backends[2].target", "backend that is no guest or host",
        ("        - {target: vault-3, port: 8200}\n", "        - {target: vault-9, port: 8200}\n"),
    ),
    "71-dangling-k8s-node.yaml": yaml_case(
        "kubernetes.workers[0].guest", "worker on a guest that does not exist",
        ("    - {name: k8s-w1, guest: k8s-w1, labels: {tier: general}}\n", "    - {name: k8s-w1, guest: k8s-w9, labels: {tier: general}}\n"),
    ),
    "72-dangling-backup-export.yaml": yaml_case(
        "backups.etcd.destination.export", "etcd snapshots to an export that does not exist",
        ("    destination: {export: backups, subdir: etcd}\n", "    destination: {export: snapshots, subdir: etcd}\n"),
    ),
    "73-dangling-runner-cache.yaml": yaml_case("runners.cache.export", "runner cache on a missing export", ("    export: runner-cache\n", "    export: cache\n")),
    "74-dangling-storage-class.yaml": yaml_case(
        "kubernetes.storage_classes[0].export", "StorageClass on a missing export",
        ("    - {name: nfs, export: k8s, default: true}\n", "    - {name: nfs, export: k8s-prod, default: true}\n"),
    ),
    "75-dangling-policy.yaml": yaml_case(
        "vault.auth.gitlab_jwt.roles[0].policies[0]", "JWT role with a policy that does not exist",
        ("          policies: [ci-read]\n", "          policies: [ci-write]\n"),
    ),
    "76-dangling-control-plane.yaml": yaml_case(
        "kubernetes.control_plane.service", "API endpoint on a service that does not exist",
        ("  control_plane: {service: kube-api, dns_name: k8s.mini.test}\n", "  control_plane: {service: apiserver, dns_name: k8s.mini.test}\n"),
    ),
    "77-dangling-dhcp-pool.yaml": yaml_case(
        "router.dhcp.servers[0].pool", "DHCP server with a pool that does not exist",
        ("        pool: POOL-LAN\n", "        pool: POOL-NOPE\n"),
    ),
    "78-dangling-vault-guest.yaml": yaml_case(
        "vault.nodes[2].guest", "Vault member on a guest that does not exist",
        ("    - {name: vault-3, guest: vault-3}\n", "    - {name: vault-3, guest: vault-4}\n"),
    ),
    "79-dangling-nas-host.yaml": yaml_case("nas.host", "NAS that is not in hosts", ("  host: nas\n", "  host: filer\n")),
    # ---- semantic: interfaces ----------------------------------------------------------------
    "80-slave-and-bridge-port.yaml": yaml_case(
        "router.bridges[1].ports[1]", "a bond slave also made a bridge port",
        ("        - interface: BOND-STORAGE\n", "        - interface: BOND-STORAGE\n        - interface: LAN-09\n"),
    ),
    # ---- semantic: quorum and placement ------------------------------------------------------
    "81-vault-even-quorum.yaml": yaml_case(
        "vault.nodes", "two raft members cannot outvote each other",
        ("    - {name: vault-3, guest: vault-3}\n", ""),
    ),
    "82-etcd-even-quorum.yaml": yaml_case(
        "kubernetes.masters", "two masters, so two etcd members",
        ("    - {name: k8s-m3, guest: k8s-m3}\n", ""),
        ("        - {target: k8s-m3, port: 6443}\n", ""),
    ),
    "83-vault-colocated.yaml": yaml_case(
        "vault.nodes[1].guest", "two Vault members on pve-s1",
        ("      vmid: 1006\n      node: pve-s2\n", "      vmid: 1006\n      node: pve-s1\n"),
    ),
    "84-masters-colocated.yaml": yaml_case(
        "kubernetes.masters[2].guest", "two masters on pve-s2",
        ("      vmid: 1103\n      node: pve-s3\n", "      vmid: 1103\n      node: pve-s2\n"),
    ),
    "85-haproxy-colocated.yaml": yaml_case(
        "load_balancer.instances[2].guest", "two HAProxy instances on one guest's node",
        ("    - {name: lb-3, guest: vault-3, priority: 120}\n", "    - {name: lb-3, guest: runner-1, priority: 120}\n"),
    ),
    # ---- semantic: other rules -----------------------------------------------------------------
    "86-foreign-pki-domain.yaml": yaml_case(
        "vault.pki[1].roles[0].allowed_domains[0]", "a PKI role for somebody else's domain",
        ("          allowed_domains: [mini.test]\n", "          allowed_domains: [example.com]\n"),
    ),
    "87-seal-threshold.yaml": yaml_case("vault.seal.threshold", "threshold above the share count", ("  seal: {shares: 3, threshold: 2}\n", "  seal: {shares: 3, threshold: 4}\n")),
    "88-lxc-cloned.yaml": yaml_case(
        "proxmox.guests[3].source", "a container cloned like a VM",
        ("      features: {nesting: true, keyctl: true}\n", "      features: {nesting: true, keyctl: true}\n      # source below replaced\n"),
        ("      source: {template: ubuntu-24.04}\n      features", "      source: {clone: {vmid: 9000}}\n      features"),
    ),
    "89-two-default-storage-classes.yaml": yaml_case(
        "kubernetes.storage_classes", "two default StorageClasses",
        ("    - {name: nfs, export: k8s, default: true}\n", "    - {name: nfs, export: k8s, default: true}\n    - {name: nfs-2, export: k8s, default: true}\n"),
    ),
    "90-retention-keeps-nothing.yaml": yaml_case(
        "backups.router.retention", "a retention policy that keeps nothing",
        ("    retention: {daily: 7}\n", "    retention: {daily: 0}\n"),
    ),
    "97-duplicate-vrid.yaml": yaml_case(
        "load_balancer.vips[1]", "two VRRP instances with one router id in one segment",
        ("      check: {interval: 5, weight: -30}\n", "      check: {interval: 5, weight: -30}\n    - name: VIP-2\n      address: 10.3.2.253\n      segment: apps\n      vrid: 254\n      interface: eth0\n"),
    ),
    "98-duplicate-sni.yaml": yaml_case(
        "load_balancer.services[1]", "two services claim the same SNI name on :443",
        ("      port: 6443\n      mode: tcp\n", "      port: 443\n      mode: tcp\n      sni: vault.mini.test\n"),
    ),
    "99-duplicate-host-fqdn.yaml": yaml_case(
        "vault-1.mini.test", "a host and a guest with one FQDN",
        ("    fqdn: nas.mini.test\n", "    fqdn: vault-1.mini.test\n"),
    ),
    "91-unbound-jwt-role.yaml": yaml_case(
        "vault.auth.gitlab_jwt.roles[0]", "a JWT role any GitLab project could use",
        ("          project_paths: [mini/infra]\n", ""),
    ),
}


def main():
    OUT.mkdir(exist_ok=True)
    # This script writes cases 01-99; cases 100 and up are committed as written (each a copy
    # of a site with one change and its expectation inside) and are kept.
    for old in OUT.iterdir():
        number = old.name.split("-", 1)[0]
        if number.isdigit() and int(number) < 100:
            old.unlink()
    for name, text in CASES.items():
        (OUT / name).write_text(text)
    # Files that cannot hold a comment: the expectation lives beside them.
    (OUT / "01-empty.yaml").write_bytes(b"")
    (OUT / "01-empty.expect").write_text("empty document\n")
    garbage = bytes((i * 197 + 89) % 256 for i in range(4096))  # deterministic, invalid UTF-8
    (OUT / "03-binary-garbage.bin").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" + garbage)
    (OUT / "03-binary-garbage.expect").write_text("not UTF-8 text\n")
    for name, (expect, text) in JSON_CASES.items():
        (OUT / name).write_text(text)
        (OUT / name.replace(".json", ".expect")).write_text(expect + "\n")
    print(f"wrote {len(CASES) + 2 + len(JSON_CASES)} broken sites to {OUT}")


# JSON cases are written by hand: JSON cannot hold the expect comment, so each has a sidecar.
JSON_HEAD = '{"apiVersion": "rackpipe/v1", "kind": "Site", "metadata": {"name": "mini", "domain": "mini.test"}'
JSON_CASES = {
    "92-json-missing-comma.json": ("92-json-missing-comma.json:1:", JSON_HEAD + ' "segments": []}\n'),
    "93-json-wrong-type.json": (
        "segments[0].cidr",
        JSON_HEAD + ', "segments": [{"name": "lan", "cidr": 10}]}\n',
    ),
    "94-json-unknown-field.json": (
        "metadata.colour",
        '{"apiVersion": "rackpipe/v1", "kind": "Site", "metadata": {"name": "mini", "domain": "mini.test", "colour": "red"}}\n',
    ),
    "95-json-duplicate-key.json": ("duplicate mapping key", JSON_HEAD + ', "kind": "Site"}\n'),
    "96-json-null-metadata.json": ("metadata", '{"apiVersion": "rackpipe/v1", "kind": "Site", "metadata": null}\n'),
}

if __name__ == "__main__":
    main()
