"""Storage backends side by side in one run: per-image overhead (write + read of one PNG-sized object) and
write/read throughput of one large object, for local disk, S3 (boto3 against moto_server, signatures checked)
and OSS (oss2 against the test suite's protocol fake, V1 and V4 signatures), with ratios to local disk.

Both servers are in-memory and on loopback, so the remote figures are the client and protocol cost (signing,
HTTP, checksums, XML) without a network; against a real store add its round-trip time per call.

    venv/bin/python benchmarks/storage.py [--images 100] [--image-kb 150] [--large-mb 64]
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def per_image(store, count: int, payload: bytes) -> tuple[float, float]:
    """Median seconds of one write and of one read."""
    writes, reads = [], []
    for i in range(count):
        key = f"bench/img/{i:05d}.png"
        started = time.perf_counter()
        store.write(key, payload)
        writes.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert len(store.read(key)) == len(payload)
        reads.append(time.perf_counter() - started)
    return statistics.median(writes), statistics.median(reads)


def throughput(store, data: bytes, path: Path) -> tuple[float, float]:
    """MB/s of write_file and of a streamed read of one large object."""
    started = time.perf_counter()
    store.write_file("bench/large.bin", path)
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    total = 0
    with store.open_stream("bench/large.bin") as stream:
        while block := stream.read(1 << 20):
            total += len(block)
    read_s = time.perf_counter() - started
    assert total == len(data)
    mb = len(data) / (1 << 20)
    return mb / write_s, mb / read_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--image-kb", type=int, default=150)
    parser.add_argument("--large-mb", type=int, default=64)
    args = parser.parse_args()

    from oss2.credentials import StaticCredentialsProvider

    from modules.storage.local import LocalStorage
    from modules.storage.oss import OssStorage
    from modules.storage.s3 import S3Storage
    from tests.storage.oss_fake import Credential, FakeOss
    from tests.storage.s3_server import MotoS3

    work = Path(tempfile.mkdtemp(prefix="easel-bench-storage-"))
    moto = MotoS3(work).start()
    moto.client().create_bucket(Bucket="easel-bench")
    fake = FakeOss({"AK": Credential("SECRET")}, ["easel-bench"]).start()
    part = 16 << 20
    stores = {
        "local disk": LocalStorage(work / "local"),
        "S3 (moto_server)": S3Storage("easel-bench", "b", endpoint_url=moto.endpoint, session=moto.session(),
                                      multipart_threshold=part, part_size=part),
        "OSS V1 (fake)": OssStorage("easel-bench", "v1", endpoint=fake.endpoint,
                                    provider=StaticCredentialsProvider("AK", "SECRET"), multipart_threshold=part,
                                    part_size=part, checkpoint_dir=work),
        "OSS V4 (fake)": OssStorage("easel-bench", "v4", endpoint=fake.endpoint, region=fake.region,
                                    provider=StaticCredentialsProvider("AK", "SECRET"), multipart_threshold=part,
                                    part_size=part, checkpoint_dir=work),
    }
    payload = secrets.token_bytes(args.image_kb * 1024)
    large = os.urandom(args.large_mb << 20)
    large_path = work / "large.bin"
    large_path.write_bytes(large)
    rows = []
    try:
        for name, store in stores.items():
            per_image(store, 5, payload)  # warm connections
            write_s, read_s = per_image(store, args.images, payload)
            write_mbs, read_mbs = throughput(store, large, large_path)
            rows.append((name, write_s, read_s, write_mbs, read_mbs))
            store.close()
    finally:
        moto.stop()
        fake.stop()
    base = rows[0]
    print(f"{args.images} images of {args.image_kb} KiB (median per call); one {args.large_mb} MiB object "
          f"(multipart from {part >> 20} MiB)")
    print("| backend | write/image | read/image | overhead/image vs local | write MB/s | read MB/s | "
          "write ratio | read ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, write_s, read_s, write_mbs, read_mbs in rows:
        overhead = (write_s + read_s) - (base[1] + base[2])
        print(f"| {name} | {write_s * 1000:.2f} ms | {read_s * 1000:.2f} ms | {overhead * 1000:+.2f} ms "
              f"({(write_s + read_s) / (base[1] + base[2]):.1f}x) | {write_mbs:.0f} | {read_mbs:.0f} | "
              f"{write_mbs / base[3]:.2f} | {read_mbs / base[4]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
