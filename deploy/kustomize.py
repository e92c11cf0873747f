"""Render a Kubernetes overlay: the part of kustomize that Starbase's manifests use.

Requires: PyYAML. Guarantees: `render(load(folder))` gives the resources that
`kubectl kustomize folder` gives for a kustomization.yaml using only these fields —
`resources` (files, or folders with their own kustomization.yaml), `namespace`, `images`
(`name` → `newName`/`newTag`/`digest`), `replicas`, `patches` (strategic-merge patch files,
`path` only) and `configMapGenerator` (`files`/`literals`, `behavior` create/merge/replace,
with `generatorOptions.disableNameSuffixHash: true`). Any other field, or a patch directive
(`$patch`, …), is a `KustomizeError` naming it: an overlay never renders differently from
kustomize without saying so. Strategic merge follows the Kubernetes API's merge keys for the
lists used in pod specs (containers by name, env by name, volumeMounts by mountPath, …);
other lists are replaced. A test compares the output with `kubectl kustomize` where kubectl
is installed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "replicas",
    "patches",
    "configMapGenerator",
    "generatorOptions",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "CustomResourceDefinition",
}
SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}
# Lists merged item by item on this key (k8s.io/api patchMergeKey); every other list is replaced.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
}
POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


class KustomizeError(ValueError):
    """An overlay this renderer cannot reproduce exactly; the message names the field."""


@dataclass(frozen=True)
class Overlay:
    folder: Path
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return self.folder.name


def load(folder: Path) -> Overlay:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{folder}: no kustomization.yaml")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(spec) - SUPPORTED)
    if unknown:
        raise KustomizeError(f"{path}: unsupported field(s) {', '.join(unknown)}")
    return Overlay(folder, spec)


def overlays(root: Path) -> list[Overlay]:
    """The overlays below `root/overlays`, by name."""
    return [load(p) for p in sorted((root / "overlays").iterdir()) if p.is_dir()]


def render(overlay: Overlay) -> list[Resource]:
    spec, folder = overlay.spec, overlay.folder
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        target = (folder / entry).resolve()
        if target.is_dir():
            resources += render(load(target))
        else:
            resources += [d for d in yaml.safe_load_all(target.read_text()) if d]
    resources = _generate(overlay, resources)
    for patch_spec in spec.get("patches", []):
        if set(patch_spec) != {"path"}:
            raise KustomizeError(f"{folder}: patches support `path` only, not {patch_spec}")
        for patch in yaml.safe_load_all((folder / patch_spec["path"]).read_text()):
            if patch:
                _apply_patch(resources, patch, folder / patch_spec["path"])
    if "namespace" in spec:
        _set_namespace(resources, str(spec["namespace"]))
    for image in spec.get("images", []):
        _set_image(resources, image)
    for replicas in spec.get("replicas", []):
        scalable = [r for r in resources if r["kind"] in SCALABLE]
        _find(scalable, None, replicas["name"])["spec"]["replicas"] = int(replicas["count"])
    return resources


def _generate(overlay: Overlay, resources: list[Resource]) -> list[Resource]:
    generators = overlay.spec.get("configMapGenerator", [])
    if not generators:
        return resources
    options = overlay.spec.get("generatorOptions", {})
    if options != {"disableNameSuffixHash": True}:
        raise KustomizeError(
            f"{overlay.folder}: configMapGenerator needs generatorOptions "
            "{disableNameSuffixHash: true} (name hashes are not reproduced)"
        )
    for generator in generators:
        unknown = set(generator) - {"name", "files", "literals", "behavior", "namespace"}
        if unknown:
            raise KustomizeError(f"{overlay.folder}: configMapGenerator field(s) {unknown}")
        data: dict[str, str] = {}
        for item in generator.get("files", []):
            key, _, path = str(item).rpartition("=")
            source = overlay.folder / path
            data[key or Path(path).name] = source.read_text()
        for literal in generator.get("literals", []):
            key, _, value = str(literal).partition("=")
            data[key] = value
        behavior = generator.get("behavior", "create")
        if behavior == "create":
            resources.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": generator["name"]},
                    "data": data,
                }
            )
            continue
        existing = _find(resources, "ConfigMap", generator["name"])
        if behavior == "replace":
            existing["data"] = data
        elif behavior == "merge":
            existing["data"] = {**existing.get("data", {}), **data}
        else:
            raise KustomizeError(f"{overlay.folder}: configMapGenerator behavior {behavior!r}")
    return resources


def _find(resources: list[Resource], kind: str | None, name: str) -> Resource:
    found = [
        r
        for r in resources
        if r["metadata"]["name"] == name and (kind is None or r["kind"] == kind)
    ]
    if len(found) != 1:
        raise KustomizeError(f"{len(found)} resources named {kind or ''} {name!r} (need one)")
    return found[0]


def _apply_patch(resources: list[Resource], patch: Resource, source: Path) -> None:
    try:
        target = _find(resources, patch["kind"], patch["metadata"]["name"])
    except KeyError as exc:
        raise KustomizeError(f"{source}: a patch needs kind and metadata.name") from exc
    merged = strategic_merge(target, patch, str(source))
    target.clear()
    target.update(merged)


def strategic_merge(base: Any, patch: Any, where: str = "", key: str = "") -> Any:
    """`patch` merged into a copy of `base` (maps by key, lists by their merge key)."""
    if isinstance(patch, dict) and isinstance(base, dict):
        merged = copy.deepcopy(base)
        for name, value in patch.items():
            if name.startswith("$"):
                raise KustomizeError(f"{where}: patch directive {name} is not supported")
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = strategic_merge(merged[name], value, where, name)
            else:
                merged[name] = copy.deepcopy(value)
        return merged
    if isinstance(patch, list) and isinstance(base, list):
        merge_key = _merge_key(key, base + patch)
        if merge_key is None:
            return copy.deepcopy(patch)
        merged_list = copy.deepcopy(base)
        added = []
        for item in patch:
            keys = [old.get(merge_key) for old in merged_list]
            if item.get(merge_key) in keys:
                index = keys.index(item.get(merge_key))
                merged_list[index] = strategic_merge(merged_list[index], item, where)
            else:
                added.append(copy.deepcopy(item))
        return added + merged_list  # kustomize puts the patch's new items first
    return copy.deepcopy(patch)


def _merge_key(field: str, items: list[Any]) -> str | None:
    if not all(isinstance(i, dict) for i in items):
        return None
    if field == "ports":  # a container's ports merge on containerPort, a Service's on port
        return "containerPort" if all("containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(field)


def _set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] == "Namespace":
            if resource["metadata"]["name"] != namespace:
                raise KustomizeError(
                    f"namespace {namespace!r} differs from the Namespace resource "
                    f"{resource['metadata']['name']!r}: rename that resource instead"
                )
        elif resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace


def _set_image(resources: list[Resource], image: dict[str, str]) -> None:
    unknown = set(image) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise KustomizeError(f"images: unsupported field(s) {unknown}")
    for resource in resources:
        path = POD_SPEC_PATHS.get(resource["kind"])
        if path is None:
            continue
        pod: Any = resource
        for step in path:
            pod = pod.get(step, {})
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            name, tag = _split_image(container["image"])
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            else:
                suffix = f":{image['newTag']}" if image.get("newTag") else tag
                container["image"] = f"{name}{suffix}"


def _split_image(reference: str) -> tuple[str, str]:
    """'repo/name:tag' → ('repo/name', ':tag'); '…@sha256:…' → (…, '@sha256:…')."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        return name, "@" + digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon:]
    return reference, ""


def to_yaml(resources: list[Resource]) -> str:
    return yaml.safe_dump_all(resources, sort_keys=False, width=100)
