"""``enformer-tfx compile --config FILE --image IMAGE --output pipeline.json`` (Vertex AI)."""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compile",
        help="compile the pipeline for Vertex AI Pipelines (KubeflowV2DagRunner JSON)",
        description="Compile create_pipeline(config) for Vertex AI. Custom code is referenced by "
        "import path, so IMAGE must contain this package (deploy/Dockerfile). The config's vertex: "
        "section selects Vertex GPU training and endpoint push; beam_pipeline_args select Dataflow.",
    )
    parser.add_argument("--config", required=True, help="pipeline YAML (see pipeline/configs/vertex.yaml)")
    parser.add_argument("--image", required=True, help="pipeline container image (deploy/Dockerfile)")
    parser.add_argument("--trainer-image", help="image of the Vertex training job (default: --image; "
                        "e.g. the deploy/Dockerfile.gpu build)")
    parser.add_argument("--output", default="pipeline.json", help="compiled pipeline JSON (default pipeline.json)")
    parser.add_argument("--display-name", help="pipeline display name (default: pipeline_name)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set vertex.project=my-project (repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config

    config = load_config(args.config, args.overrides)  # before TFX/TensorFlow load: a typo fails fast
    from deploy.vertex import compile_pipeline, local_path_warnings

    for warning in local_path_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    compiled = compile_pipeline(config, args.image, args.output, args.trainer_image, args.display_name)
    tasks = compiled["pipelineSpec"]["root"]["dag"]["tasks"]
    print(f"wrote {args.output}: {len(tasks)} tasks, image {args.image}")
    return 0
