"""`python -m deploy`: render the deployment files (run from the repository's root).

    python -m deploy aws [--log-group NAME …] [--platform ecs|eks …] [--out DIR]
    python -m deploy kubernetes OVERLAY [--out FILE]
    python -m deploy moto-server [--port 4566]
    python -m deploy stack NAME TEMPLATE [KEY=VALUE …]   # create a stack, print its outputs
    python -m deploy check     # the committed renderings are what the sources give

Requires: the repository's checkout (deploy/ beside starbase/). Guarantees: `aws` writes
`starbase-data.yaml` and `starbase-services.yaml`; `kubernetes` prints (or writes) one
multi-document YAML of the overlay's resources; `check` exits 1 naming every committed file
that differs from a fresh rendering; bad input is a one-line error and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy import cloudformation, kustomize

ROOT = Path(__file__).resolve().parent
AWS_DIR = ROOT / "aws"
KUBERNETES_DIR = ROOT / "kubernetes"
RENDERED_DIR = KUBERNETES_DIR / "rendered"
# The example the committed AWS templates are rendered for (the emitter's Lambda groups).
EXAMPLE_LOG_GROUPS = ("/aws/lambda/checkout", "/aws/lambda/payments")


def aws_templates(options: cloudformation.Options) -> dict[str, str]:
    return {
        "starbase-data.yaml": cloudformation.to_yaml(cloudformation.data_stack(options)),
        "starbase-services.yaml": cloudformation.to_yaml(cloudformation.services_stack(options)),
    }


def committed() -> dict[Path, str]:
    """Every rendered file kept in the repository, as the sources render it now."""
    files = {
        AWS_DIR / name: text
        for name, text in aws_templates(
            cloudformation.Options(log_groups=EXAMPLE_LOG_GROUPS)
        ).items()
    }
    for overlay in kustomize.overlays(KUBERNETES_DIR):
        files[RENDERED_DIR / f"{overlay.name}.yaml"] = kustomize.to_yaml(kustomize.render(overlay))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    aws = commands.add_parser("aws", help="render the CloudFormation templates")
    aws.add_argument("--log-group", action="append", default=[], help="subscribe (repeatable)")
    aws.add_argument("--platform", choices=cloudformation.PLATFORMS, default="ecs")
    aws.add_argument("--eks-oidc-provider", default="", help="with --platform eks")
    aws.add_argument("--namespace", default="starbase", help="with --platform eks")
    aws.add_argument("--out", type=Path, default=Path("."), help="folder (default: .)")
    kube = commands.add_parser("kubernetes", help="render a Kubernetes overlay")
    kube.add_argument("overlay", type=Path, help="a folder with a kustomization.yaml")
    kube.add_argument("--out", type=Path, help="file (default: standard output)")
    moto = commands.add_parser("moto-server", help="moto's server with the template's types")
    moto.add_argument("--host", default="127.0.0.1")
    moto.add_argument("--port", type=int, default=4566)
    stack = commands.add_parser("stack", help="create a stack and print its outputs")
    stack.add_argument("name")
    stack.add_argument("template", type=Path)
    stack.add_argument("parameters", nargs="*", metavar="KEY=VALUE")
    commands.add_parser("check", help="are the committed renderings current?")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, kustomize.KustomizeError, OSError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "aws":
        options = cloudformation.Options(
            log_groups=tuple(args.log_group),
            platform=args.platform,
            eks_oidc_provider=args.eks_oidc_provider,
            namespace=args.namespace,
        )
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in aws_templates(options).items():
            (args.out / name).write_text(text)
            print(args.out / name)
        return 0
    if args.command == "kubernetes":
        text = kustomize.to_yaml(kustomize.render(kustomize.load(args.overlay)))
        if args.out:
            args.out.write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    if args.command == "stack":
        return _create_stack(args.name, args.template, args.parameters)
    if args.command == "moto-server":
        from deploy import moto_cfn

        moto_cfn.serve(args.host, args.port)
        return 0
    stale = [path for path, text in committed().items() if _read(path) != text]
    for path in stale:
        print(f"stale: {path.relative_to(ROOT.parent)} (python -m deploy check --help)")
    if stale:
        print(
            "re-render with: python -m deploy aws --log-group /aws/lambda/checkout "
            "--log-group /aws/lambda/payments --out deploy/aws; and python -m deploy "
            "kubernetes deploy/kubernetes/overlays/NAME --out deploy/kubernetes/rendered/NAME.yaml"
        )
    return 1 if stale else 0


def _create_stack(name: str, template: Path, parameters: list[str]) -> int:
    """CreateStack and wait (boto3's chain: $AWS_ENDPOINT_URL, $AWS_REGION, credentials);
    print the outputs as KEY=VALUE lines."""
    import boto3  # type: ignore[import-untyped, unused-ignore]

    pairs = [p.partition("=") for p in parameters]
    if any(not eq for _, eq, _ in pairs):
        raise ValueError("parameters are KEY=VALUE")
    cf = boto3.client("cloudformation")
    cf.create_stack(
        StackName=name,
        TemplateBody=template.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, _, v in pairs],
        Capabilities=["CAPABILITY_IAM"],
    )
    cf.get_waiter("stack_create_complete").wait(StackName=name)
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    for output in stack.get("Outputs", []):
        print(f"{output['OutputKey']}={output['OutputValue']}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
