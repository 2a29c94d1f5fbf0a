"""Pinned images (the sandbox image, CRI-O's pinned_images, re-pinned on SIGHUP), the
signature policy chosen for a pull, and the progress timeout handed to the puller."""

from __future__ import annotations

from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.config.load import load_settings
from crio_py.config.model import RuntimeSettings
from crio_py.cri.image import ImageService
from crio_py.errors import FailedPreconditionError, InvalidArgumentError
from crio_py.store.content import ContentStore
from crio_py.store.images import ImageStore
from tests.unit.cri.test_image_service import FakePuller, FakeSnapshotter


def _settings(tmp_path: Path, **update: object) -> RuntimeSettings:
    settings, _ = load_settings(None)
    return settings.model_copy(update={"root_dir": tmp_path, **update})


def _service(settings: RuntimeSettings) -> tuple[ImageService, FakePuller]:
    content = ContentStore(settings.root_dir / "content")
    puller = FakePuller(content)
    service = ImageService(
        settings,
        content=content,
        images=ImageStore(settings.root_dir / "images"),
        puller=puller,  # type: ignore[arg-type]
        snapshotter=FakeSnapshotter(),  # type: ignore[arg-type]
    )
    return service, puller


def _pull(name: str, namespace: str = "") -> api_pb2.PullImageRequest:
    request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=name))
    if namespace:
        request.sandbox_config.metadata.namespace = namespace
    return request


async def _pinned(service: ImageService) -> dict[str, bool]:
    images = (await service.list_images(api_pb2.ListImagesRequest())).images
    return {image.repo_tags[0]: image.pinned for image in images}


async def test_sandbox_image_and_pinned_images_patterns_are_pinned(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        sandbox_image="registry.k8s.io/new-pause:3.10",
        pinned_images=("quay.io/app/exact:1", "quay.io/prefix/*", "*keyword*"),
    )
    service, _ = _service(settings)
    names = [
        "registry.k8s.io/new-pause:3.10",
        "quay.io/app/exact:1",
        "quay.io/app/exact2:1",
        "quay.io/prefix/anything:9",
        "quay.io/other/has-keyword-in:1",
        "quay.io/other/plain:1",
    ]
    for name in names:
        await service.pull_image(_pull(name))
    assert await _pinned(service) == {
        "registry.k8s.io/new-pause:3.10": True,
        "quay.io/app/exact:1": True,
        "quay.io/app/exact2:1": False,
        "quay.io/prefix/anything:9": True,
        "quay.io/other/has-keyword-in:1": True,
        "quay.io/other/plain:1": False,
    }
    status = await service.image_status(
        api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image="quay.io/app/exact:1"))
    )
    assert status.image.pinned


async def test_sighup_repins_a_changed_sandbox_image(tmp_path: Path) -> None:
    settings = _settings(tmp_path, sandbox_image="registry.k8s.io/old-pause:3.9")
    service, _ = _service(settings)
    await service.pull_image(_pull("registry.k8s.io/old-pause:3.9"))
    await service.pull_image(_pull("registry.k8s.io/new-pause:3.10"))
    assert await _pinned(service) == {
        "registry.k8s.io/old-pause:3.9": True,
        "registry.k8s.io/new-pause:3.10": False,
    }
    service.reload_settings(settings.model_copy(update={"sandbox_image": "new-pause:3.10"}))
    assert await _pinned(service) == {
        "registry.k8s.io/old-pause:3.9": False,
        "registry.k8s.io/new-pause:3.10": False,  # docker.io/library/new-pause
    }
    service.reload_settings(
        settings.model_copy(update={"sandbox_image": "registry.k8s.io/new-pause:3.10"})
    )
    assert await _pinned(service) == {
        "registry.k8s.io/old-pause:3.9": False,
        "registry.k8s.io/new-pause:3.10": True,
    }


async def test_a_namespace_policy_file_wins_over_the_global_policy(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "team-a.json").write_text('{"default": [{"type": "reject"}]}')
    global_policy = tmp_path / "policy.json"
    global_policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    settings = _settings(tmp_path, signature_policy=global_policy, signature_policy_dir=policies)
    service, puller = _service(settings)
    await service.pull_image(_pull("app:1", namespace="team-a"))
    await service.pull_image(_pull("app:1", namespace="team-b"))
    await service.pull_image(_pull("app:2"))
    assert [spec.policy for spec in puller.specs] == [
        policies / "team-a.json",
        global_policy,
        global_policy,
    ]


async def test_no_policy_configured_leaves_skopeos_default(tmp_path: Path) -> None:
    service, puller = _service(_settings(tmp_path))
    await service.pull_image(_pull("app:1", namespace="default"))
    assert puller.specs[0].policy is None


@pytest.mark.parametrize("namespace", ["../etc", "a/b", "UPPER", "-x"])
async def test_a_namespace_that_is_no_namespace_name_is_refused(
    tmp_path: Path, namespace: str
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    service, puller = _service(_settings(tmp_path, signature_policy_dir=policies))
    with pytest.raises(InvalidArgumentError, match="not a Kubernetes namespace"):
        await service.pull_image(_pull("app:1", namespace=namespace))
    assert puller.specs == []


async def test_the_progress_timeout_reaches_the_puller_and_follows_sighup(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, image_pull_progress_timeout_s=42.0)
    service, puller = _service(settings)
    assert puller.progress_timeout_s == 42.0  # type: ignore[attr-defined]
    service.reload_settings(settings.model_copy(update={"image_pull_progress_timeout_s": 0.5}))
    assert puller.progress_timeout_s == 0.5  # type: ignore[attr-defined]


async def test_a_missing_global_policy_refuses_the_pull_and_names_the_setting(
    tmp_path: Path,
) -> None:
    service, puller = _service(_settings(tmp_path, signature_policy=tmp_path / "gone.json"))
    with pytest.raises(FailedPreconditionError, match=r"signature_policy .*gone\.json"):
        await service.pull_image(_pull("app:1"))
    assert puller.specs == []
