"""Render a Kustomize overlay in Python, for the manifest tests: no kustomize or kubectl binary
installs from a package registry, so `make test` renders what `kubectl kustomize` would.

It implements the subset deploy/k8s uses and refuses anything else (a field it does not know
fails the render instead of being skipped): `resources` (files and directories), `namespace`,
`labels` (metadata only), `images`, `configMapGenerator` (env files and literals, `behavior:
merge`), `generatorOptions.disableNameSuffixHash`, and `patches` given by `path`, applied as
strategic merge patches (maps merge, lists of named items merge by name, other lists replace).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]
KNOWN_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "labels",
        "images",
        "configMapGenerator",
        "generatorOptions",
        "patches",
    }
)


def load_documents(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _key(resource: Mapping[str, Any]) -> tuple[str, str]:
    return str(resource["kind"]), str(resource["metadata"]["name"])


def strategic_merge(base: Any, patch: Any) -> Any:
    """`patch` over `base`: maps merge key by key, lists of maps with a `name` merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        merged_list = list(base)
        index = {item["name"]: i for i, item in enumerate(merged_list)}
        for item in patch:
            if item["name"] in index:
                position = index[item["name"]]
                merged_list[position] = strategic_merge(merged_list[position], item)
            else:
                merged_list.append(item)
        return merged_list
    return patch


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)


def _env_pairs(lines: list[str]) -> dict[str, str]:
    pairs = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def _generate_config_maps(
    directory: Path, generators: list[dict[str, Any]], resources: dict[tuple[str, str], Resource]
) -> None:
    for generator in generators:
        assert set(generator) <= {"name", "envs", "literals", "behavior"}, generator
        data: dict[str, str] = {}
        for env_file in generator.get("envs", []):
            data |= _env_pairs((directory / env_file).read_text().splitlines())
        data |= _env_pairs(generator.get("literals", []))
        key = ("ConfigMap", generator["name"])
        behavior = generator.get("behavior", "create")
        if behavior == "merge":
            assert key in resources, f"no ConfigMap {generator['name']} to merge into"
            resources[key]["data"] = resources[key]["data"] | data
        else:
            assert behavior == "create", generator
            assert key not in resources, generator
            resources[key] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }


def _set_image(resource: Resource, images: list[dict[str, str]]) -> None:
    spec = resource.get("spec", {})
    template = spec.get("template", {}).get("spec", {})
    for container in template.get("containers", []) + template.get("initContainers", []):
        name, _, tag = container["image"].partition(":")
        for image in images:
            if image["name"] in (name, container["image"]):
                new_name = image.get("newName", name)
                new_tag = image.get("newTag", tag)
                container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def render(directory: Path) -> list[Resource]:
    """The resources of the kustomization in `directory`, as `kubectl kustomize` builds them."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN_FIELDS
    assert not unknown, f"{directory}: the test renderer does not implement {sorted(unknown)}"
    resources: dict[tuple[str, str], Resource] = {}
    for entry in kustomization.get("resources", []):
        path = directory / entry
        loaded = render(path) if path.is_dir() else load_documents(path)
        for resource in loaded:
            assert _key(resource) not in resources, f"{_key(resource)} defined twice"
            resources[_key(resource)] = resource
    options = kustomization.get("generatorOptions", {})
    assert set(options) <= {"disableNameSuffixHash"}, options
    _generate_config_maps(directory, kustomization.get("configMapGenerator", []), resources)
    for patch_entry in kustomization.get("patches", []):
        assert set(patch_entry) == {"path"}, patch_entry
        for patch in load_documents(directory / patch_entry["path"]):
            key = _key(patch)
            assert key in resources, f"patch {patch_entry['path']} targets missing {key}"
            resources[key] = strategic_merge(resources[key], patch)
    for label_entry in kustomization.get("labels", []):
        assert not label_entry.get("includeSelectors"), label_entry
        assert not label_entry.get("includeTemplates"), label_entry
        for resource in resources.values():
            labels = resource["metadata"].setdefault("labels", {})
            labels.update(label_entry["pairs"])
    for resource in resources.values():
        if "namespace" in kustomization:
            resource["metadata"]["namespace"] = kustomization["namespace"]
        _set_image(resource, kustomization.get("images", []))
    return list(resources.values())
