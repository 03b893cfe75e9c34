//! Prints a large, valid synthetic site as YAML, for benchmarks:
//! `cargo run --release -p rackpipe-model --example synthetic_site -- 1000 200 500 > big.yaml`
//! (guests, VLAN segments, DHCP static leases).
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let guests = args.first().copied().unwrap_or(1000);
    let vlans = args.get(1).copied().unwrap_or(200).clamp(1, 3000);
    let leases = args.get(2).copied().unwrap_or(500).min(guests);
    print!("{}", synthetic(guests, vlans, leases));
}

/// Segment `i` is 10.(64 + i / 256).(i % 256).0/24 on VLAN 100 + i.
fn net(i: usize) -> (usize, usize) {
    (64 + i / 256, i % 256)
}

fn synthetic(guests: usize, vlans: usize, leases: usize) -> String {
    let mut y = String::new();
    let w = &mut y;
    let _ = writeln!(
        w,
        "# yaml-language-server: $schema=../../schemas/site.schema.json"
    );
    let _ = writeln!(
        w,
        "apiVersion: rackpipe/v1\nkind: Site\nmetadata: {{name: synthetic, domain: synthetic.test}}"
    );
    let _ = writeln!(
        w,
        "segments:\n  - {{name: mgmt, cidr: 10.3.0.0/24, gateway: 10.3.0.1}}"
    );
    for i in 0..vlans {
        let (a, b) = net(i);
        let _ = writeln!(
            w,
            "  - {{name: seg-{i}, cidr: 10.{a}.{b}.0/24, gateway: 10.{a}.{b}.1, vlan: {}}}",
            100 + i
        );
    }
    let _ = writeln!(w, "router:\n  identity: router.synthetic.test");
    let _ = writeln!(
        w,
        "  management: {{address: 10.3.0.1, user: admin, password: \"env:ROUTER_PASSWORD\"}}"
    );
    let _ = writeln!(w, "  ethernet:\n    - {{default_name: ether1, name: WAN}}");
    for p in 2..=4 {
        let _ = writeln!(w, "    - {{default_name: ether{p}, name: LAN-0{}}}", p - 1);
    }
    let _ = writeln!(
        w,
        "  bridges:\n    - name: BRIDGE-PROXMOX\n      vlan_filtering: true"
    );
    let _ = writeln!(
        w,
        "      ports: [{{interface: LAN-01}}, {{interface: LAN-02}}, {{interface: LAN-03}}]\n      vlans:"
    );
    for i in 0..vlans {
        let _ = writeln!(
            w,
            "        - {{vlan_ids: [{}], tagged: [BRIDGE-PROXMOX, LAN-01, LAN-02, LAN-03]}}",
            100 + i
        );
    }
    let _ = writeln!(w, "  vlans:");
    for i in 0..vlans {
        let _ = writeln!(
            w,
            "    - {{name: VLAN-{i}, interface: BRIDGE-PROXMOX, vlan_id: {}}}",
            100 + i
        );
    }
    let _ = writeln!(
        w,
        "  addresses:\n    - {{address: 10.3.0.1/24, interface: BRIDGE-PROXMOX}}"
    );
    for i in 0..vlans {
        let (a, b) = net(i);
        let _ = writeln!(w, "    - {{address: 10.{a}.{b}.1/24, interface: VLAN-{i}}}");
    }
    let _ = writeln!(w, "  pools:");
    for i in 0..vlans {
        let (a, b) = net(i);
        let _ = writeln!(
            w,
            "    - {{name: POOL-{i}, ranges: [10.{a}.{b}.200-10.{a}.{b}.250]}}"
        );
    }
    let _ = writeln!(w, "  dhcp:\n    servers:");
    for i in 0..vlans {
        let _ = writeln!(
            w,
            "      - {{name: DHCP-{i}, interface: VLAN-{i}, pool: POOL-{i}, lease_time: 1d}}"
        );
    }
    let _ = writeln!(w, "    networks:");
    for i in 0..vlans {
        let (a, b) = net(i);
        let _ = writeln!(
            w,
            "      - {{address: 10.{a}.{b}.0/24, gateway: 10.{a}.{b}.1, dns_servers: [10.{a}.{b}.1]}}"
        );
    }
    let guest_addr = |g: usize| {
        let seg = g % vlans;
        let (a, b) = net(seg);
        (seg, format!("10.{a}.{b}.{}", 10 + g / vlans))
    };
    let mac = |g: usize| {
        format!(
            "BC:24:11:{:02X}:{:02X}:{:02X}",
            (g >> 16) & 0xff,
            (g >> 8) & 0xff,
            g & 0xff
        )
    };
    let _ = writeln!(w, "    leases:");
    for g in 0..leases {
        let (seg, ip) = guest_addr(g);
        let _ = writeln!(
            w,
            "      - {{server: DHCP-{seg}, address: {ip}, mac: \"{}\", comment: guest-{g}}}",
            mac(g)
        );
    }
    let _ = writeln!(
        w,
        "proxmox:\n  cluster: synthetic\n  api: {{node: pve-s1, token: \"env:PVE_TOKEN\"}}\n  nodes:"
    );
    for n in 1..=3 {
        let _ = writeln!(w, "    - {{name: pve-s{n}, address: 10.3.0.{}}}", 10 + n);
    }
    let _ = writeln!(
        w,
        "  storages:\n    - {{name: local, type: dir, content: [rootdir, images, vztmpl]}}"
    );
    let _ = writeln!(
        w,
        "  templates:\n    - {{name: ubuntu, storage: local, node: pve-s1, url: \"https://example.invalid/u.tar.zst\", file_name: u.tar.zst, content: vztmpl}}"
    );
    let _ = writeln!(w, "  guests:");
    for g in 0..guests {
        let (seg, ip) = guest_addr(g);
        let _ = writeln!(
            w,
            "    - {{name: guest-{g}, kind: lxc, vmid: {}, node: pve-s{}, cores: 1, memory_mib: 512, disks: [{{slot: rootfs, storage: local, size: 8G}}], nics: [{{slot: net0, bridge: vmbr0, vlan: {}, mac: \"{}\", address: {ip}/24, segment: seg-{seg}}}], source: {{template: ubuntu}}, tags: [synthetic]}}",
            1000 + g,
            1 + g % 3,
            100 + seg,
            mac(g)
        );
    }
    y
}
