"""The Release: what one apply, rollout step or rollback deploys, worked out once.

A Release is the compiled IR plus everything later stages would otherwise work out again: the
image each model runs (repository and tag resolved; llmctl's bundled image or the published vLLM
image) and the resolved state URL. Node sizes and rollout surges are in the IR itself (compile
decides them). Revisions store the Release; apply, a rollout's resume and a rollback hand it to
the one engine entry point (`llmctl.engine.runner.StackRunner.apply`), so a rollback deploys
exactly the images the revision ran, whatever flags the rollback is given.

Frozen and JSON-serialisable; the same inputs give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from llmctl.errors import LlmctlError
from llmctl.image_repository import DEFAULT_IMAGE_REPOSITORY
from llmctl.ir import Deployment, ModelIR


class Release(BaseModel):
    """A deployment as deployed: the IR, each model's image, the state it lives in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deployment: Deployment
    images: dict[str, str]  # model name -> the image reference its pods run
    image_repository: str = DEFAULT_IMAGE_REPOSITORY  # of llmctl's bundled image
    state_url: str = ""  # resolved: file:///absolute/path or s3://bucket/prefix

    @property
    def name(self) -> str:
        """The deployment's name."""
        return self.deployment.name

    def image(self, model: str) -> str:
        """The image `model` runs."""
        try:
            return self.images[model]
        except KeyError:
            raise LlmctlError(f"release of {self.name} has no image for model {model!r}") from None

    def image_tags(self) -> dict[str, str]:
        """{model: tag} of llmctl's bundled images (what `history` shows)."""
        return {
            m.name: self.images[m.name].rpartition(":")[2]
            for m in self.deployment.models
            if m.engine.image_kind == "bundled" and m.name in self.images
        }

    def with_model(self, model: ModelIR, image: str) -> Release:
        """This release with its model of the same name replaced by `model`, running `image`."""
        models = tuple(model if m.name == model.name else m for m in self.deployment.models)
        deployment = self.deployment.model_copy(update={"models": models})
        return self.model_copy(
            update={"deployment": deployment, "images": {**self.images, model.name: image}}
        )

    def same_as(self, other: Release) -> bool:
        """Whether the two deploy the same objects (the state URL aside)."""
        return self.deployment == other.deployment and self.images == other.images

    def to_json(self) -> str:
        """Canonical JSON: same release, same bytes."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> Release:
        """A stored release (as `json.loads(to_json())`); the IR's schema version is checked."""
        deployment = Deployment.from_json(json.dumps(data.get("deployment")))
        return cls.model_validate({**data, "deployment": deployment})


def image_ref(model: ModelIR, repository: str, tags: Mapping[str, str]) -> str:
    """The serving image of `model`: the published vLLM image (upstream), or REPOSITORY:TAG of
    llmctl's own image, TAG the content hash of its build context for the pinned vLLM."""
    if model.engine.image_kind == "upstream":
        return model.engine.image
    tag = tags.get(model.engine.vllm_version)
    if tag is None:
        tag = content_tags([model.engine.vllm_version])[model.engine.vllm_version]
    return f"{repository}:{tag}"


def content_tags(versions: list[str]) -> dict[str, str]:
    """vllm_version -> the content-hash tag of the serving image llmctl builds for it."""
    from llmctl.image import image_tag, render_image_context  # renders Jinja2: import on use

    return {v: image_tag(render_image_context(v)) for v in sorted(set(versions))}


def make_release(
    deployment: Deployment,
    image_repository: str = DEFAULT_IMAGE_REPOSITORY,
    *,
    state_url: str = "",
) -> Release:
    """The Release of `deployment` with llmctl's bundled images in `image_repository`."""
    tags = content_tags([m.engine.vllm_version for m in deployment.models])
    images = {m.name: image_ref(m, image_repository, tags) for m in deployment.models}
    return Release(
        deployment=deployment,
        images=images,
        image_repository=image_repository,
        state_url=state_url,
    )


def legacy_release(
    deployment: Deployment, image_tags: Mapping[str, str], image_repository: str, state_url: str
) -> Release:
    """The Release a record of the earlier format (IR, {model: tag}, repository) describes."""
    repository = image_repository or DEFAULT_IMAGE_REPOSITORY
    images = {}
    for m in deployment.models:
        tag = image_tags.get(m.name)
        tags = {m.engine.vllm_version: tag} if tag else {}
        images[m.name] = image_ref(m, repository, tags)
    return Release(
        deployment=deployment, images=images, image_repository=repository, state_url=state_url
    )
