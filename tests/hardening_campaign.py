"""The full hardening campaign: every row of ``tests/test_hardening.py`` plus the faults a test
cannot stage cheaply (read-only and full file systems, more bad inputs, missing output
directories), each run once through ``pipeline.cli.main`` and printed as a table.

Usage: ``python -m tests.hardening_campaign OUTDIR`` (OUTDIR is created; the demo data, a tiny
model and a small dataset are built inside). Prints one TAB-separated row per case: case,
command, expected and actual exit code, the first ``error:`` line, and leftovers (paths that
must not exist afterwards but do, and any ``.partial-`` temporary file). Exit status 1 when a
row's exit code or error phrase differs from what it expects.

Read-only and full file systems are small tmpfs mounts inside the row's directory (``mount``
needs root; they are unmounted after the row). Without mount rights a read-only directory is a
``chmod 555`` one (not read-only for root), and full-disk rows are reported as skipped.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Callable, List

from tests.test_hardening import (BEDGRAPH, CASES, CONSTRUCT, L, MAKE_DATASET, PREDICT, REGIONS, TRACKS, TRAIN, Case,
                                  Env, build_env, drop_column, edit, gz, run_case, swap, write)

READ_ONLY = os.strerror(30)  # EROFS: "Read-only file system"
FULL = os.strerror(28)  # ENOSPC: "No space left on device"


class Skip(Exception):
    """The fault cannot be staged on this machine."""


def _mount(target: str, options: str) -> None:
    os.makedirs(target, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", target], capture_output=True, text=True)
    if result.returncode != 0:
        raise Skip(f"mount: {result.stderr.strip()}")


def read_only(directory: str) -> Callable[[Env], None]:
    """``directory`` (template) becomes a read-only file system (tmpfs), or a 555 directory."""
    def apply(env: Env) -> None:
        path = directory.format(**env)
        try:
            _mount(path, "ro,size=64k")
        except Skip:
            if os.geteuid() == 0:
                raise Skip("root ignores file permissions and mount is not permitted") from None
            os.chmod(path, 0o555)
    return apply


def full_disk(directory: str, size: str = "16k") -> Callable[[Env], None]:
    """``directory`` (template) becomes a tmpfs of ``size``: writes fail with ENOSPC once it is full."""
    return lambda env: _mount(directory.format(**env), f"size={size}")


def unmount_under(root: str) -> None:
    with open("/proc/mounts") as handle:
        points = [line.split()[1] for line in handle]
    for point in sorted((p for p in points if p.startswith(root.rstrip("/") + "/")), reverse=True):
        # A failed in-process writer may still hold a (deleted) file open there: detach lazily then.
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], check=False)


def _bad_bigwig(env: Env) -> None:
    with open(f"{env['w']}/bad.bw", "w") as handle:
        handle.write("not a bigwig\n")
    text = open(os.path.join(env["d"], "tracks.tsv")).read()
    with open(f"{env['w']}/t.tsv", "w") as handle:
        handle.write(text.replace("tracks/DEMO00.bw", f"{env['w']}/bad.bw")
                     .replace("tracks/", os.path.join(env["d"], "tracks") + "/"))


def _vector_array(env: Env) -> None:
    import numpy as np

    np.save(f"{env['w']}/a.npy", np.zeros(3))


def unwritable(name: str, argv: List[str]) -> Case:
    """A row whose ``argv`` writes below ``{w}/ro``, made read only: exit 2, ``cannot write: <EROFS>``."""
    return Case(name, argv, 2, f"cannot write: {READ_ONLY}", read_only("{w}/ro"))


SCHEMA = ["config-schema", "--output", "{w}/ro/s.json"]
DEMO = ["demo-data", "{w}/ro/demo", "--scale", "0.05"]
RUN = ["run", "--config", "{repo}/pipeline/configs/demo.yaml", "--set", "pipeline_root={w}/ro/root"]

EXTRA_CASES = [
    # ---- unwritable locations (read-only file system)
    unwritable("run with pipeline_root on a read-only file system", RUN),
    unwritable("make-dataset into a read-only directory", swap(MAKE_DATASET, "{w}/out/ds.tsv", "{w}/ro/ds.tsv")),
    unwritable("make-dataset under a read-only directory", swap(MAKE_DATASET, "{w}/out/ds.tsv", "{w}/ro/new/ds.tsv")),
    unwritable("train into a read-only directory", swap(TRAIN, "{w}/model", "{w}/ro/model")),
    unwritable("make-track-dataset into a read-only directory", swap(TRACKS, "{w}/sub/dir/tracks", "{w}/ro/tracks")),
    unwritable("predict into a read-only directory", swap(PREDICT, "{w}/pred.tsv", "{w}/ro/pred.tsv")),
    unwritable("predict-regions into a read-only directory", swap(REGIONS, "{w}/r.npy", "{w}/ro/r.npy")),
    unwritable("to-bedgraph into a read-only directory", swap(BEDGRAPH, "{w}/bg/t", "{w}/ro/t")),
    unwritable("demo-data into a read-only directory", DEMO),
    unwritable("config-schema into a read-only directory", SCHEMA),
    # ---- full disk
    Case("make-dataset on a full disk", swap(MAKE_DATASET, "{w}/out/ds.tsv", "{w}/full/ds.tsv"), 2,
         f"cannot write: {FULL}", full_disk("{w}/full"), absent=("{w}/full/ds.tsv", "{w}/full/ds.examples")),
    Case("make-track-dataset on a full disk", swap(TRACKS, "{w}/sub/dir/tracks", "{w}/full/tracks"), 2,
         f"cannot write: {FULL}", full_disk("{w}/full"), absent=("{w}/full/tracks", "{w}/full/tracks.bed")),
    Case("to-bedgraph on a full disk", swap(BEDGRAPH, "{w}/bg/t", "{w}/full/t") + ["--bigwig", "--reference",
         "{d}/reference.fa"], 2, f"cannot write: {FULL}", full_disk("{w}/full", "4k"),
         absent=("{w}/full/t.0.bedgraph", "{w}/full/t.0.bw")),
    Case("predict-regions on a full disk", swap(REGIONS, "{w}/r.npy", "{w}/full/r.npy"), 2, f"cannot write: {FULL}",
         full_disk("{w}/full", "4k"), absent=("{w}/full/r.npy", "{w}/full/r.npy.json", "{w}/full/r.activity.bw")),
    Case("predict-regions output on /dev/full", swap(REGIONS, "{w}/r.npy", "/dev/full"), 2, "/dev/full"),
    Case("to-bedgraph prefix on /dev/full", swap(BEDGRAPH, "{w}/bg/t", "/dev/full/t"), 2, "/dev/full"),
    Case("demo-data on a full disk", swap(DEMO, "{w}/ro/demo", "{w}/full/demo"), 2, f"cannot write: {FULL}",
         full_disk("{w}/full"), absent=("{w}/full/demo",)),
    Case("config-schema onto /dev/full", ["config-schema", "--output", "/dev/full"], 2, FULL),
    Case("train on a full disk", swap(TRAIN, "{w}/model", "{w}/full/model"), 2, "cannot write",
         full_disk("{w}/full", "64k")),
    # ---- missing output directories are created
    Case("make-dataset into a missing directory", swap(MAKE_DATASET, "{w}/out/ds.tsv", "{w}/a/b/ds.tsv"), 0,
         "50 payloads", present=("{w}/a/b/ds.tsv",)),
    Case("predict-regions into a missing directory", swap(REGIONS, "{w}/r.npy", "{w}/a/b/r.npy"), 0,
         "regions predicted", present=("{w}/a/b/r.npy",)),
    Case("to-bedgraph into a missing directory", swap(BEDGRAPH, "{w}/bg/t", "{w}/a/b/t"), 0, "regions",
         present=("{w}/a/b/t.0.bedgraph",)),
    Case("demo-data into a missing directory", ["demo-data", "{w}/a/b/demo", "--scale", "0.05"], 0, "payloads",
         present=("{w}/a/b/demo/manifest.json",)),
    # ---- more bad inputs
    Case("attribute plain-gzip reference",
         ["attribute", "{m}", "--payloads", "{d}/payloads.fa", "--names", "LCR~000", "--reference", "{w}/ref.fa.gz",
          "--context", "{ctx}", "--length", str(CONSTRUCT), "--window", str(L), "--method", "saliency",
          "--no-figures", "--output", "{w}/att/x"], 2, "bgzip", gz("{d}/reference.fa", "{w}/ref.fa.gz"),
         absent=("{w}/att",)),
    Case("demo-data with scale 0", ["demo-data", "{w}/demo", "--scale", "0"], 2, "--scale 0", absent=("{w}/demo",)),
    Case("run with a config that is not YAML", ["run", "--config", "{w}/c.yaml"], 2, "c.yaml",
         write("{w}/c.yaml", "pipeline_name: [unclosed\n")),
    Case("run with an unknown config key", ["run", "--config", "{repo}/pipeline/configs/demo.yaml", "--set",
                                            "training.epoks=3"], 2, "training.epoks"),
    Case("make-dataset activity table with a header only", swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv"), 2,
         "a.tsv", edit("{d}/activity.tsv", "{w}/a.tsv", lambda t: t.split("\n")[0] + "\n"),
         absent=("{w}/out",)),
    Case("make-dataset construct shorter than the window", swap(MAKE_DATASET, str(CONSTRUCT), str(L - 128)), 2,
         "exceeds the construct length", absent=("{w}/out",)),
    Case("make-dataset malformed folds", swap(MAKE_DATASET, "train=1", "train:1"), 2, "train:1", absent=("{w}/out",)),
    Case("make-dataset context beyond the chromosome end", swap(MAKE_DATASET, "{ctx}", "chr3:1-999999999"), 2,
         "outside chromosome", absent=("{w}/out",)),
    Case("make-track-dataset bigWig that is not a bigWig", swap(TRACKS, "{d}/tracks.tsv", "{w}/t.tsv"), 2,
         "bad.bw", _bad_bigwig, absent=("{w}/sub",)),
    Case("predict with a missing model", swap(PREDICT, "{m}", "{w}/nomodel"), 2, "nomodel", absent=("{w}/pred.tsv",)),
    Case("to-bedgraph array of the wrong rank", swap(BEDGRAPH, "{npy}", "{w}/a.npy"), 2, "a.npy",
         _vector_array, absent=("{w}/bg",)),
    Case("train with a missing dataset", swap(TRAIN, "{ds}", "{w}/none"), 2, "none", absent=("{w}/model",)),
    Case("make-dataset activity table lacks the name column",
         swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv"), 2, "MenDel.Name",
         edit("{d}/activity.tsv", "{w}/a.tsv", drop_column("MenDel.Name")), absent=("{w}/out",)),
]


ALL_CASES: List[Case] = list(CASES) + EXTRA_CASES


def leftovers(case: Case, values: Env, workdir: str) -> List[str]:
    """Paths the case says must not exist that do, plus temporary ``.partial-`` files anywhere in the row."""
    found = [path.format(**values) for path in case.absent if os.path.exists(path.format(**values))]
    for directory, dirs, files in os.walk(workdir):
        found += [os.path.join(directory, name) for name in files + dirs if ".partial-" in name]
    return found


def run_row(case: Case, env: Env, workdir: str) -> tuple:
    """``(exit code, first error line, leftovers)``; ``(None, reason, [])`` when the fault cannot be staged."""
    try:
        values, code, _, err = run_case(case, env, workdir)
    except Skip as reason:
        return None, f"skipped: {reason}", []
    except Exception as error:  # a bug: the CLI would print a traceback and exit 1
        return 1, f"traceback: {type(error).__name__}: {error}", leftovers(case, dict(env, w=workdir), workdir)
    line = next((text for text in err.splitlines() if text.startswith("error:")), "")
    return code, line, leftovers(case, values, workdir)


def main(root: str) -> int:
    import json

    from pipeline.demo_data import generate_demo_data

    os.makedirs(root, exist_ok=True)
    demo = os.path.join(root, "demo")
    generate_demo_data(demo, seed=11, scale=0.25)
    with open(os.path.join(demo, "manifest.json")) as handle:
        context = json.load(handle)["context"]
    from tests.conftest import build_tiny_payload_model

    env = build_env(root, demo, context, build_tiny_payload_model(root)["artifact"])
    mismatches, skipped = 0, 0
    print("case\tcommand\texpected\tgot\terror\tleftovers")
    for number, case in enumerate(ALL_CASES):
        workdir = os.path.join(root, f"case{number:02d}")
        os.makedirs(workdir)
        try:
            code, line, found = run_row(case, env, workdir)
        finally:
            unmount_under(workdir)
        command = " ".join(shlex.quote(item.format(**dict(env, w=workdir))) for item in case.argv)
        if code is None:
            skipped += 1
        elif code != case.code or (code == 2 and case.phrase.format(**dict(env, w=workdir)) not in line) or found:
            mismatches += 1
        print(f"{case.name}\t{command}\t{case.code}\t{'-' if code is None else code}\t{line}\t{' '.join(found)}",
              flush=True)
    print(f"# {len(ALL_CASES)} cases: {len(ALL_CASES) - mismatches - skipped} as expected, {mismatches} not, "
          f"{skipped} skipped")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
