from __future__ import annotations

import pytest

from ivoa_broker.eb.kinds import (
    ALIASES,
    BASE,
    Kind,
    UnknownKind,
    canonical_kind,
    normalise_kind_field,
    unwrap_update,
)

K = BASE
EB_V1 = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/"
EB_2025 = "https://www.purl.org/ivoa.net/EB/schema/types/"

# Every kind URI spelling seen in the EB working draft, its OpenAPI schema and its examples.
HISTORICAL = [
    ("uri:docker-container-1.0", Kind.DOCKER_CONTAINER),
    (EB_2025 + "executables/docker-container-1.0", Kind.DOCKER_CONTAINER),
    (EB_V1 + "executable/jupyter-notebook-1.0", Kind.JUPYTER_NOTEBOOK),
    (EB_V1 + "executable/singularity-container-1.0", Kind.SINGULARITY_CONTAINER),
    (K + "executable/docker-container-1.0.yaml", Kind.DOCKER_CONTAINER),
    (K + "computer/simple-compute-resource.yaml", Kind.SIMPLE_COMPUTE_RESOURCE),
    (K + "compute/simple-compute-resource-1.0.yaml", Kind.SIMPLE_COMPUTE_RESOURCE),
    (EB_2025 + "resources/compute/simple-compute-resource-1.0", Kind.SIMPLE_COMPUTE_RESOURCE),
    (EB_2025 + "resources/storage/simple-storage-resource-1.0.yaml", Kind.SIMPLE_STORAGE_RESOURCE),
    (EB_V1 + "data/S3-data-resource-1.0", Kind.S3_DATA_RESOURCE),
    (EB_V1 + "volume/simple-volume-mount-1.0", Kind.SIMPLE_VOLUME_MOUNT),
    (EB_V1 + "offerset/execution-offerset-1.0", Kind.EXECUTION_OFFERSET),
    (EB_2025 + "execution-offerset-1.0.yaml", Kind.EXECUTION_OFFERSET),
    (EB_V1 + "session/scheduled-execution-session-1.0", Kind.SCHEDULED_EXECUTION_SESSION),
    ("urn:docker-container-0.1", Kind.DOCKER_CONTAINER),
    ("urn:jupyter-notebook-0.1", Kind.JUPYTER_NOTEBOOK),
    ("urn:canfar-notebook-0.1", Kind.JUPYTER_NOTEBOOK),
    ("urn:binder-notebook-0.1", Kind.JUPYTER_NOTEBOOK),
    ("urn:single-container-0.1", Kind.DOCKER_CONTAINER),
    ("urn:simple-compute-resource", Kind.SIMPLE_COMPUTE_RESOURCE),
    ("urn:simple-storage-resource", Kind.SIMPLE_STORAGE_RESOURCE),
    ("urn:simple-data-resource", Kind.SIMPLE_DATA_RESOURCE),
    ("urn:S3-data-resource", Kind.S3_DATA_RESOURCE),
    # lookup ignores case, white space and http versus https
    ("  URI:Docker-Container-1.0 ", Kind.DOCKER_CONTAINER),
    (
        "http://www.purl.org/ivoa.net/EB/schema/v1.0/types/data/simple-data-resource-1.0",
        Kind.SIMPLE_DATA_RESOURCE,
    ),
]


@pytest.mark.parametrize(("alias", "kind"), HISTORICAL)
def test_historical_spellings_map_to_canonical(alias: str, kind: Kind) -> None:
    assert canonical_kind(alias) is kind


@pytest.mark.parametrize("kind", list(Kind))
def test_canonical_form_is_v1_kinds_yaml_and_maps_to_itself(kind: Kind) -> None:
    assert kind.value.startswith(BASE)
    assert kind.value.endswith(".yaml")
    assert "/computer/" not in kind.value
    assert canonical_kind(kind.value) is kind


def test_every_alias_targets_a_canonical_kind_and_each_kind_has_the_main_forms() -> None:
    assert set(ALIASES.values()) == set(Kind)
    for kind in Kind:
        group, _, leaf = kind.value[len(BASE) :].partition("/")
        name = leaf.removesuffix(".yaml")
        for form in (f"uri:{name}-1.0", f"{EB_V1}{group}/{name}-1.0", f"urn:{name}-0.1"):
            assert canonical_kind(form) is kind, form


@pytest.mark.parametrize(
    "value",
    ["urn:repo2docker-0.1", "uri:docker-container-2.0", K + "executable/podman.yaml", ""],
)
def test_unknown_kinds_are_refused(value: str) -> None:
    with pytest.raises(UnknownKind):
        canonical_kind(value)


def test_normalise_renames_type_and_canonicalises() -> None:
    out = normalise_kind_field({"type": "uri:docker-container-1.0", "image": {}})
    assert out == {"kind": Kind.DOCKER_CONTAINER.value, "image": {}}


def test_normalise_leaves_unknown_uri_and_both_fields_alone() -> None:
    assert normalise_kind_field({"kind": "https://x.org/k"}) == {"kind": "https://x.org/k"}
    both = {"kind": "uri:docker-container-1.0", "type": "x"}
    assert normalise_kind_field(both) == {"kind": Kind.DOCKER_CONTAINER.value, "type": "x"}
    assert normalise_kind_field(["not", "a", "mapping"]) == ["not", "a", "mapping"]


def test_update_wrapper_unwrapped_only_when_alone() -> None:
    inner = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}
    assert unwrap_update({"update": inner}) == inner
    assert unwrap_update(inner) == inner
    assert unwrap_update({"update": inner, "x": 1}) == {"update": inner, "x": 1}
