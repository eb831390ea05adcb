"""enformer-tfx: a TFX pipeline that fine-tunes Enformer on synthetic regulatory payload assays."""
from setuptools import find_packages, setup

setup(
    name="enformer-tfx",
    version="0.1.0",
    description="TFX/Kubeflow pipeline fine-tuning Enformer on synthetic regulatory genomics assays",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["pipeline*", "components*", "trainer*", "deploy*"]),
    package_data={"": ["*.pbtxt", "*.yaml"]},
    # The runtime stack is pinned in requirements.lock (installed by `make setup`); keep this list
    # loose so the package installs into that locked environment without re-resolving it.
    install_requires=[
        "tfx>=1.16,<1.17",
        "tensorflow>=2.16,<2.17",
        "dm-sonnet>=2.0.2",
        "pyfaidx",
        "biopython",  # pyfaidx reads bgzip FASTA through Bio.bgzf
        "pyBigWig",
        "pyyaml",
        "tqdm",
        "matplotlib",
        "scipy",
    ],
    entry_points={
        "console_scripts": ["enformer-tfx=pipeline.cli:main"],
        # Subcommand packages outside pipeline/ (pipeline never imports deploy).
        "enformer_tfx.commands": ["vertex=deploy.commands"],
    },
)
