#!/usr/bin/env python3
"""A small, deterministic OCI image packer and reader for rackpipe's image (ci/image.sh).

    oci.py pack --base ROOTFS.tar --bin-dir DIR --bin NAME... --out IMAGE.tar --tag TAG
                --version V --source URL [--uid 10001] [--epoch SECONDS]
    oci.py unpack IMAGE.tar DEST     # verify every digest, extract the layers, print the config
    oci.py sizes IMAGE.tar           # compressed and unpacked size of the layers

`pack` turns a root file system tarball (mmdebstrap's output) into a one-layer image in an
OCI image layout, itself archived as a tar (what `skopeo copy oci-archive:IMAGE.tar ...`
reads): `oci-layout`, `index.json`, and under `blobs/sha256/` the manifest, the config
(User, Env, Cmd, WorkingDir, labels, diff_ids) and the gzip layer. On the way it adds the
binaries under /usr/local/bin, a non-root user and its home, drops device nodes, caches and
logs, clears every setuid/setgid bit, and makes the bytes reproducible: entries sorted, one
mtime, numeric owners without names, hard links stored as files, gzip without a timestamp.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import time

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

# Nothing a job needs at run time lives here; removed from the layer (directories kept).
DROP_UNDER = ("./var/cache/", "./var/log/", "./var/lib/apt/lists/", "./tmp/", "./run/")
USER_NAME = "rackpipe"
PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"


def norm(name):
    name = name.lstrip("/")
    if name.startswith("./"):
        name = name[2:]
    return "./" + name if name not in ("", ".") else "."


def dir_entry(name, epoch, uid=0, mode=0o755):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid = info.gid = uid
    info.mtime = epoch
    return info


def file_entry(name, data, epoch, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = epoch
    return info


def build_layer(args):
    """The layer's entries: (TarInfo, bytes or None), sorted by name."""
    entries = {}
    epoch = args.epoch
    with tarfile.open(args.base, "r:*") as base:
        for member in base.getmembers():
            name = norm(member.name)
            if member.ischr() or member.isblk() or member.isfifo():
                continue
            if any(name.startswith(p) for p in DROP_UNDER):
                continue
            data = None
            if member.islnk():
                # A hard link may sort before its target: store the content instead.
                data = base.extractfile(member).read()
                info = file_entry(name, data, epoch, member.mode)
                info.uid, info.gid = member.uid, member.gid
            else:
                info = member
                info.name = name
                if member.isreg():
                    data = base.extractfile(member).read()
            entries[name] = (info, data)

    uid = args.uid
    # The non-root user the image runs as: passwd/group/shadow lines, its home.
    additions = {
        "./etc/passwd": f"{USER_NAME}:x:{uid}:{uid}:rackpipe:/home/{USER_NAME}:/bin/sh\n",
        "./etc/group": f"{USER_NAME}:x:{uid}:\n",
        "./etc/shadow": f"{USER_NAME}:!:::::::\n",
        "./etc/gshadow": f"{USER_NAME}:!::\n",
    }
    for name, line in additions.items():
        info, data = entries[name]
        text = data.decode()
        if f"\n{USER_NAME}:" in "\n" + text:
            sys.exit(f"oci.py: {name} already has a {USER_NAME} entry")
        data = (text + line).encode()
        info.size = len(data)
        entries[name] = (info, data)
    entries[f"./home/{USER_NAME}"] = (dir_entry(f"./home/{USER_NAME}", epoch, uid), None)
    for name in ("./dev", "./tmp", "./run"):
        if name not in entries:
            entries[name] = (dir_entry(name, epoch), None)
    entries["./tmp"][0].mode = 0o1777

    for tool in args.bin:
        path = os.path.join(args.bin_dir, tool)
        with open(path, "rb") as f:
            data = f.read()
        name = f"./usr/local/bin/{tool}"
        entries[name] = (file_entry(name, data, epoch, 0o755), data)

    out = []
    for name in sorted(entries):
        info, data = entries[name]
        info.mtime = epoch
        info.uname = info.gname = ""
        # No setuid/setgid programs: nothing in the image may gain privileges.
        info.mode &= ~(stat.S_ISUID | stat.S_ISGID)
        info.pax_headers = {}
        out.append((info, data))
    return out


def write_layer(entries, gzip_level):
    """Returns (uncompressed digest, gzip bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw_bytes = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(raw_bytes).hexdigest()
    gz = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=gz, mode="wb", compresslevel=gzip_level, mtime=0) as f:
        f.write(raw_bytes)
    return diff_id, len(raw_bytes), gz.getvalue()


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pack(args):
    entries = build_layer(args)
    diff_id, raw_size, layer = write_layer(entries, args.gzip_level)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(args.epoch))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "User": f"{args.uid}:{args.uid}",
            "Env": [f"PATH={PATH}", f"HOME=/home/{USER_NAME}"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": f"/home/{USER_NAME}",
            "Labels": {
                "org.opencontainers.image.title": "rackpipe",
                "org.opencontainers.image.version": args.version,
                "org.opencontainers.image.source": args.source,
                "org.opencontainers.image.licenses": "MIT OR Apache-2.0",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "ci/image.sh (mmdebstrap + ci/oci.py)"}],
    }
    config_bytes = canonical(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": blob(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": MEDIA_LAYER, "digest": blob(layer), "size": len(layer)}],
        "annotations": {"org.opencontainers.image.version": args.version},
    }
    manifest_bytes = canonical(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": blob(manifest_bytes),
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": args.tag},
            }
        ],
    }
    files = [
        ("oci-layout", canonical({"imageLayoutVersion": "1.0.0"})),
        ("index.json", canonical(index)),
    ]
    for data in (config_bytes, manifest_bytes, layer):
        files.append(("blobs/sha256/" + blob(data)[7:], data))
    tmp = args.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        for name in ("blobs", "blobs/sha256"):
            tar.addfile(dir_entry(name, args.epoch))
        for name, data in sorted(files):
            tar.addfile(file_entry(name, data, args.epoch), io.BytesIO(data))
    os.replace(tmp, args.out)
    print(f"image: {args.out} ({args.tag}), manifest {blob(manifest_bytes)}", file=sys.stderr)
    print(f"layer: {len(layer)} bytes gzip, {raw_size} bytes tar", file=sys.stderr)


def read_image(path):
    """Reads and checks an OCI archive: every blob matches its digest and size, the layers'
    uncompressed digests match the config's diff_ids. Returns (config, [layer bytes])."""
    with tarfile.open(path, "r") as tar:
        names = {m.name for m in tar.getmembers()}

        def get(name):
            for candidate in (name, "./" + name):
                if candidate in names:
                    return tar.extractfile(candidate).read()
            sys.exit(f"oci.py: {path}: no {name}")

        def get_blob(desc):
            algo, hexd = desc["digest"].split(":", 1)
            data = get(f"blobs/{algo}/{hexd}")
            if blob(data) != desc["digest"] or len(data) != desc["size"]:
                sys.exit(f"oci.py: {path}: blob {desc['digest']} does not match its descriptor")
            return data

        layout = json.loads(get("oci-layout"))
        if layout.get("imageLayoutVersion") != "1.0.0":
            sys.exit(f"oci.py: {path}: not an OCI image layout")
        index = json.loads(get("index.json"))
        if len(index["manifests"]) != 1:
            sys.exit(f"oci.py: {path}: expected one manifest, found {len(index['manifests'])}")
        manifest = json.loads(get_blob(index["manifests"][0]))
        config = json.loads(get_blob(manifest["config"]))
        layers = [get_blob(d) for d in manifest["layers"]]
    diff_ids = []
    for data in layers:
        diff_ids.append(blob(gzip.decompress(data)))
    if diff_ids != config["rootfs"]["diff_ids"]:
        sys.exit(f"oci.py: {path}: layer diff_ids do not match the config")
    return config, layers


def unpack(args):
    config, layers = read_image(args.image)
    os.makedirs(args.dest, exist_ok=False)
    for data in layers:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            # Our own archive, just verified: owners, modes and links as packed.
            if hasattr(tarfile, "fully_trusted_filter"):
                tar.extractall(args.dest, numeric_owner=True, filter="fully_trusted")
            else:
                tar.extractall(args.dest, numeric_owner=True)
    json.dump(config["config"], sys.stdout, indent=2)
    sys.stdout.write("\n")


def sizes(args):
    _, layers = read_image(args.image)
    packed = sum(len(d) for d in layers)
    unpacked = sum(len(gzip.decompress(d)) for d in layers)
    archive = os.path.getsize(args.image)
    print(f"archive {archive} bytes; layers {packed} bytes compressed, {unpacked} bytes unpacked")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--base", required=True)
    p.add_argument("--bin-dir", required=True)
    p.add_argument("--bin", action="append", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--uid", type=int, default=10001)
    # 6 for published images; a throwaway test image saves the CPU with 1 (same format).
    p.add_argument("--gzip-level", type=int, default=6, choices=range(1, 10))
    p.add_argument("--epoch", type=int, default=int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
    p.set_defaults(func=pack)
    u = sub.add_parser("unpack")
    u.add_argument("image")
    u.add_argument("dest")
    u.set_defaults(func=unpack)
    s = sub.add_parser("sizes")
    s.add_argument("image")
    s.set_defaults(func=sizes)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
