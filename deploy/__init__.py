"""Starbase's deployment: CloudFormation for AWS, Kubernetes manifests, and how they are rendered.

Not part of the installed `starbase` package: these modules run from a checkout
(`python -m deploy …`, see deploy/README.md) and in the tests. `settings` holds the facts every
target shares (ports, paths, health endpoints, environment variables, sizing);
`cloudformation` builds the AWS templates; `kustomize` renders the Kubernetes overlays;
`moto_cfn` lets moto's CloudFormation create the resource types the templates use.
"""
