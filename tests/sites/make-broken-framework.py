#!/usr/bin/env python3
"""Writes tests/sites/broken/180-200: the validator's framework cases (issue 20 items 3-5).

Each is tests/sites/minimal.yaml with small mutations, like make-broken.py's cases, but with
several expectations, most pinned to a line (`# expect: LINE: PATH`, see tests/broken_sites.rs):
problems of several kinds reported in one run, each at its own line; conflicts naming both
lines; messages in the site's words (`# expect: !TEXT` = stderr must not contain TEXT);
exactly the real errors when a section is left out for its schema errors (`# expect: errors=N`:
exactly N error lines, so nothing the left-out section's absence causes is reported);
acknowledgements that cannot hide an error or are malformed. A line is written `@TEXT@` here
and resolved to the line of the (unique) line containing TEXT in the written file (`@=TEXT@`:
the line that is exactly TEXT).

    python3 tests/sites/make-broken-framework.py
"""

import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the sites
from sitegen import BODY, HERE, mutate

OUT = HERE / "broken"


def resolve(text):
    """Replaces every `@TEXT@` in the expect lines by the line number of TEXT in the file."""
    lines = text.splitlines()

    def line_of(m):
        needle = m.group(1)
        exact = needle.startswith("=")
        hits = [
            i + 1
            for i, l in enumerate(lines)
            if not l.startswith("# ") and (l == needle[1:] if exact else needle in l)
        ]
        if len(hits) != 1:
            sys.exit(f"line marker {needle!r} found {len(hits)} times (want 1)")
        return str(hits[0])

    head, rest = [], []
    for l in lines:
        (head if l.startswith("# ") and not rest else rest).append(l)
    head = [re.sub(r"@([^@]+)@", line_of, l) for l in head]
    return "\n".join(head + rest) + "\n"


def case(expects, what, *pairs, body=BODY):
    head = "".join(f"# expect: {e}\n" for e in expects) + f"# {what}\n"
    return resolve(head + mutate(body, *pairs))


ACK = "  description: Minimal valid site for the broken-site tests.\n"


def ack(entries):
    return (ACK, ACK + "  acknowledge:\n" + entries)


CASES = {
    # ---- every problem in one run, each at its own line --------------------------------------
    "180-schema-and-semantic-together.yaml": case(
        ["@vlan: 5000@: segments[1].vlan", "@interface: LAN-42@: router.bridges[0].ports[2].interface",
         "@tagged: [BRIDGE-LAN, LAN-01, LAN-02, LAN-03]@: router.bridges[0].vlans[0].tagged[3]", "errors=3"],
        "a schema error (VLAN out of range) and a semantic one (a bridge port renamed to an unknown interface, which the"
        " VLAN table still tags by its old name) in one run; the refused VLAN feeds no rule (segments is left out), so"
        " it is one error, not nine",
        ("    vlan: 20\n", "    vlan: 5000\n"),
        ("        - interface: LAN-03\n", "        - interface: LAN-42\n"),
    ),
    "181-typo-and-overlap.yaml": case(
        ["@vlan_filtring@: router.bridges[0].vlan_filtring", "@cidr: 10.3.0.0/16@: segments[1].cidr"],
        "a typo leaves the router out, yet the segments' overlap is still found",
        ("      vlan_filtering: true\n", "      vlan_filtring: true\n"),
        ("    cidr: 10.3.2.0/24\n", "    cidr: 10.3.0.0/16\n"),
    ),
    "182-bad-cidr-and-duplicate-vmid.yaml": case(
        ["@10.3.0.0/33@: segments[0].cidr", "@vmid: 1005 # again@: proxmox.guests[1].vmid"],
        "a malformed network and a duplicate VMID in another section, both reported",
        ("    cidr: 10.3.0.0/24\n", "    cidr: 10.3.0.0/33\n"),
        ("      vmid: 1006\n", "      vmid: 1005 # again\n"),
    ),
    "183-three-sections-at-once.yaml": case(
        ["@version: 1.31@: kubernetes.version", "@threshold: 4@: vault.seal.threshold", "@00:11:32:00:01@: hosts[0].mac", "errors=3"],
        "three sections wrong in three ways: a number for text, a threshold above the shares, a short MAC",
        ("  version: v1.31.4\n", "  version: 1.31\n"),
        ("  seal: {shares: 3, threshold: 2}\n", "  seal: {shares: 3, threshold: 4}\n"),
        ("    segment: storage\n    mac: 00:11:32:00:00:01\n", "    segment: storage\n    mac: 00:11:32:00:01\n"),
    ),
    "184-references-into-left-out-sections.yaml": case(
        ["@10.3.0.0/33@: segments[0].cidr", "@vmid: one thousand and six@: proxmox.guests[1].vmid", "errors=2"],
        "segments and proxmox break the schema and are left out: the hosts, VIPs, NAS, Kubernetes, load balancer and runners that name a segment or a guest are not reported as dangling",
        ("    cidr: 10.3.0.0/24\n", "    cidr: 10.3.0.0/33\n"),
        ("      vmid: 1006\n", "      vmid: one thousand and six\n"),
    ),
    # ---- a conflict names both places, with their lines ----------------------------------------
    "185-overlap-names-both-lines.yaml": case(
        ["@cidr: 10.3.0.0/16@: segments[1].cidr", "(see segments[0].cidr, line @cidr: 10.3.0.0/24@)"],
        "the overlap is reported at the widened network and names the one it swallows",
        ("    cidr: 10.3.2.0/24\n", "    cidr: 10.3.0.0/16\n"),
    ),
    "186-duplicate-guest-names-both-lines.yaml": case(
        ["@name: vault-1 # copied@: proxmox.guests[1].name", "(see proxmox.guests[0].name, line @=    - name: vault-1@)"],
        "a guest copied without renaming: the duplicate names the original and its line",
        ("    - name: vault-2\n      fqdn: vault-2.mini.test\n", "    - name: vault-1 # copied\n      fqdn: vault-2.mini.test\n"),
    ),
    "187-duplicate-vmid-both-lines.yaml": case(
        ["@vmid: 1005 # copied@: proxmox.guests[1].vmid", "(see proxmox.guests[0].vmid, line @=      vmid: 1005@)"],
        "a VMID copied from another guest: both lines named",
        ("      vmid: 1006\n", "      vmid: 1005 # copied\n"),
    ),
    # ---- messages in the site's words -------------------------------------------------------
    "188-pattern-in-words.yaml": case(
        ["@00:11:32:00:01@: hosts[0].mac", "is not a MAC address", "!does not match", "![0-9A-Fa-f]", "errors=1"],
        "a malformed MAC: the message says what a MAC looks like, never the regular expression",
        ("    segment: storage\n    mac: 00:11:32:00:00:01\n", "    segment: storage\n    mac: 00:11:32:00:01\n"),
    ),
    "189-enum-lists-values.yaml": case(
        ["@mode: lacp@: router.bonds[0].mode", '"lacp" is not one of "802.3ad"', "!oneOf"],
        "an unknown bond mode: the message lists the modes",
        ("      mode: 802.3ad\n", "      mode: lacp\n"),
    ),
    "190-type-in-words.yaml": case(
        ["@cores: [1]@: proxmox.guests[0].cores", "expected a whole number, found a list", "!struct", "!invalid type"],
        "a list where a number belongs: said in YAML's words, not Rust's",
        ("      cores: 1\n      memory_mib: 512\n      disks:\n        - {slot: rootfs, storage: nas, size: 8G}\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:05\"",
         "      cores: [1]\n      memory_mib: 512\n      disks:\n        - {slot: rootfs, storage: nas, size: 8G}\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:05\""),
    ),
    "191-api-version-in-words.yaml": case(
        ["@rackpipe/v2@: apiVersion", '"rackpipe/v2" is not "rackpipe/v1"', "!oneOf"],
        "a future apiVersion: the message names the one this release reads",
        ("apiVersion: rackpipe/v1\n", "apiVersion: rackpipe/v2\n"),
    ),
    "192-missing-field-in-words.yaml": case(
        ["@    - name: runner-1@: proxmox.guests[3]", 'missing required field "node"', "!is a required property"],
        "a guest without its node",
        ("      vmid: 1002\n      node: pve-s1\n", "      vmid: 1002\n"),
    ),
    "193-size-in-words.yaml": case(
        ["@size: 8 GB@: proxmox.guests[0].disks[0].size", "is not a size", "!does not match"],
        "a disk size written with a space and a decimal unit",
        ("        - {slot: rootfs, storage: nas, size: 8G}\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:05\"",
         "        - {slot: rootfs, storage: nas, size: 8 GB}\n      nics:\n        - {slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:05\""),
    ),
    # ---- acknowledgements ----------------------------------------------------------------------
    "194-acknowledged-error-still-fails.yaml": case(
        ["@cidr: 10.3.0.0/16@: segments[1].cidr", "names errors, which cannot be acknowledged", "[unused-acknowledgement]"],
        "acknowledging an error's rule does not hide the error, and says so",
        ack("    - rule: overlap\n      reason: we know\n"),
        ("    cidr: 10.3.2.0/24\n", "    cidr: 10.3.0.0/16\n"),
    ),
    "195-acknowledgement-without-reason.yaml": case(
        ["@rule: copy-paste@: metadata.acknowledge[0]", 'missing required field "reason"'],
        "an acknowledgement must say why",
        ack("    - rule: copy-paste\n"),
    ),
    "196-acknowledgement-bad-rule-id.yaml": case(
        ["@rule: Copy Paste@: metadata.acknowledge[0].rule", "!does not match"],
        "a rule id is written as printed, lower case with dashes",
        ack("    - rule: Copy Paste\n      reason: the two ports share a cable tray\n"),
    ),
    "197-acknowledgement-unknown-field.yaml": case(
        ["@until: 2027-01-01@: metadata.acknowledge[0].until", "unknown field (typo?)"],
        "an acknowledgement has rule, path and reason, nothing else",
        ack("    - rule: copy-paste\n      reason: on purpose\n      until: 2027-01-01\n"),
    ),
    "198-error-inside-flow-mapping.yaml": case(
        ["@vlan: 4095,@: proxmox.guests[1].nics[0].vlan", "!Some("],
        "an error inside a one-line flow mapping is reported at that line",
        ("{slot: net0, bridge: vmbr0, vlan: 20, mac: \"BC:24:11:00:00:06\"", "{slot: net0, bridge: vmbr0, vlan: 4095, mac: \"BC:24:11:00:00:06\""),
    ),
    # ---- a syntax error never shows a secret ---------------------------------------------------
    "200-secret-in-syntax-error.yaml": case(
        ["200-secret-in-syntax-error.yaml:@glrt-AbCdEfGhIjKlMnOpQrStUv: runner-2@:",
         "duplicate mapping key: (value not shown)", "!glrt-"],
        "runner tokens pasted as keys, one twice: the syntax error names the line, never the token",
        body=BODY + "runner_tokens:\n  glrt-AbCdEfGhIjKlMnOpQrStUv: runner-1\n  glrt-AbCdEfGhIjKlMnOpQrStUv: runner-2\n",
    ),
}


def main():
    for name, text in CASES.items():
        (OUT / name).write_text(text)
    # 199: a broken site with a byte order mark and CRLF line endings still names the right line.
    text = mutate(BODY, ("    vlan: 20\n", "    vlan: 5000\n"))
    line = text.splitlines().index("    vlan: 5000") + 1
    (OUT / "199-bom-crlf-line.yaml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    (OUT / "199-bom-crlf-line.expect").write_text(f"{line}: segments[1].vlan\n")
    print(f"wrote {len(CASES) + 1} broken sites to {OUT}")


if __name__ == "__main__":
    main()
