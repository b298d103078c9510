"""Encoders: the registry, the offline ConSE encoder on real images, MiniLM, open_clip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modeling.engine.encoders import (
    EncoderCapabilityError,
    EncoderLoadError,
    UnknownEncoderError,
    available_encoders,
    create_encoder,
)
from modeling.engine.encoders.conse import class_texts, conse_vectors
from modeling.engine.errors import UnknownStrategyError
from tests.modeling.conftest import CIFAR_CLASSES, TINY_CLIP, unit_rows


def _assert_unit_rows(matrix: np.ndarray, dim: int) -> None:
    assert matrix.dtype == np.float32 and matrix.shape[1] == dim
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def _average_precision(relevant: np.ndarray, scores: np.ndarray) -> float:
    hits = relevant[np.argsort(-scores, kind="stable")]
    precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
    return float(precision_at_hit.mean())


# ---- registry -------------------------------------------------------------------------------

def test_it_lists_the_registered_encoders_default_first() -> None:
    names = available_encoders()
    assert names[0] == "offline"
    assert {"offline", "open_clip", "precomputed", "minilm"} <= set(names)


def test_it_names_the_known_encoders_when_one_is_unknown() -> None:
    with pytest.raises(UnknownEncoderError, match="known encoders: offline, ") as caught:
        create_encoder("clip-by-another-name")
    assert isinstance(caught.value, UnknownStrategyError)


def test_it_rejects_options_an_encoder_does_not_take() -> None:
    with pytest.raises(EncoderLoadError, match="bad options"):
        create_encoder("offline", colour="blue")
    with pytest.raises(EncoderLoadError, match="temperature"):
        create_encoder("offline", temperature=0)


def test_it_puts_every_output_changing_setting_in_the_key() -> None:
    base = create_encoder("offline", precision="bf16")
    assert base.key == ("offline-conse/effnet-lite0/minilm-l6/T50/temp4/res160-224@96"
                        "/cls-lemma_gloss/phr-photo/bf16/crop1-0.875")
    variants = [create_encoder("offline", top=10, precision="bf16"),
                create_encoder("offline", temperature=2, precision="bf16"),
                create_encoder("offline", resolution=224, precision="bf16"), create_encoder("offline", precision="fp32"),
                create_encoder("offline", class_text="lemma", precision="bf16"),
                create_encoder("offline", crop_small=0.9, precision="bf16")]
    assert len({base.key, *(v.key for v in variants)}) == 7


def test_it_names_the_precision_it_measured_fastest_in_the_key() -> None:
    from modeling.engine import kernels

    encoder = create_encoder("offline")
    measured = kernels.recorded("effnet-lite0-precision")
    assert measured is not None and set(measured["seconds"]) == {"fp32", "bf16"}  # type: ignore[arg-type]
    assert encoder.settings.precision == measured["choice"]
    assert f"/{measured['choice']}/" in encoder.key


# ---- ConSE ----------------------------------------------------------------------------------

def test_it_maps_a_confident_image_to_its_class_vector_with_top_one() -> None:
    table = unit_rows(np.random.default_rng(0), 5, 8)
    logits = np.array([[0.0, 9.0, 1.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0, 2.9]])
    np.testing.assert_allclose(conse_vectors(logits, table, top=1, temperature=1.0), table[[1, 0]],
                               atol=1e-6)


def test_it_weights_the_top_classes_by_their_tempered_probabilities() -> None:
    table = np.eye(4, dtype=np.float32)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    mixed = conse_vectors(logits, table, top=2, temperature=1.0)
    np.testing.assert_allclose(mixed[0], np.array([0.5, 0.3, 0, 0]) / np.hypot(0.5, 0.3), atol=1e-6)
    flatter = conse_vectors(logits, table, top=2, temperature=4.0)
    assert flatter[0, 1] / flatter[0, 0] > mixed[0, 1] / mixed[0, 0]


def test_it_writes_class_texts_from_wordnet() -> None:
    gloss = class_texts("lemma_gloss")
    assert len(gloss) == 1000 and gloss[0].startswith("tench: ")
    assert class_texts("photo")[0] == "a photo of a tench"


# ---- MiniLM ---------------------------------------------------------------------------------

def test_it_embeds_texts_with_minilm_in_384_dimensions() -> None:
    encoder = create_encoder("minilm")
    vectors = encoder.encode_texts(["I lost my card", "my card is missing", "exchange rate for euros"])
    _assert_unit_rows(vectors, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    with pytest.raises(EncoderCapabilityError, match="text-only"):
        encoder.encode_images([Image.new("RGB", (8, 8))])


# ---- the offline encoder on real CIFAR-10 images --------------------------------------------

@pytest.fixture(scope="module")
def encoded(offline_encoder, cifar_images):  # type: ignore[no-untyped-def]
    keys = list(cifar_images)
    calls: list[tuple[int, int]] = []
    batch = offline_encoder.encode_images([cifar_images[k] for k in keys],
                                          progress=lambda d, t: calls.append((d, t)))
    labels = np.array([CIFAR_CLASSES.index(k.split("/")[0]) for k in keys])
    return batch, labels, calls


def test_it_encodes_images_into_normalised_vectors_features_and_logits(encoded) -> None:  # type: ignore[no-untyped-def]
    batch, labels, calls = encoded
    _assert_unit_rows(batch.vectors, 384)
    assert batch.features.shape == (len(labels), 1280) and np.isfinite(batch.features).all()
    assert batch.extras["logits"].shape == (len(labels), 1000)
    assert calls[-1] == (len(labels), len(labels))


def test_it_ranks_airplanes_first_for_airplane(encoded, offline_encoder) -> None:  # type: ignore[no-untyped-def]
    batch, labels, _ = encoded
    scores = batch.vectors @ offline_encoder.encode_texts(list(CIFAR_CLASSES)).T
    top_two = np.argsort(-scores[:, 0])[:2]
    assert (labels[top_two] == CIFAR_CLASSES.index("airplane")).all()
    mean_ap = np.mean([_average_precision(labels == c, scores[:, c]) for c in range(10)])
    assert mean_ap > 0.4  # chance is about 0.15 with 6 positives among 60


def test_it_keeps_features_that_separate_classes(encoded) -> None:  # type: ignore[no-untyped-def]
    batch, labels, _ = encoded
    features = batch.features / np.linalg.norm(batch.features, axis=1, keepdims=True)
    similarity = features @ features.T
    np.fill_diagonal(similarity, -np.inf)
    nearest_label_agrees = labels[similarity.argmax(axis=1)] == labels
    assert nearest_label_agrees.mean() > 0.35  # leave-one-out 1-NN; chance 0.1


def test_it_encodes_photos_at_224_and_tiny_images_at_160(offline_encoder) -> None:  # type: ignore[no-untyped-def]
    settings = offline_encoder.settings
    assert settings.resolution_for(Image.new("RGB", (32, 32))) == 160
    assert settings.resolution_for(Image.new("RGB", (640, 480))) == 224
    mixed = offline_encoder.encode_images([Image.new("RGB", (640, 480), "red"),
                                           Image.new("RGB", (32, 32), "red")])
    _assert_unit_rows(mixed.vectors, 384)


def test_it_encodes_phrases_as_a_photo_of(offline_encoder) -> None:  # type: ignore[no-untyped-def]
    from modeling.engine.encoders.minilm import minilm_encode

    phrase = offline_encoder.encode_texts(["red bicycle"])
    np.testing.assert_allclose(phrase, minilm_encode(["a photo of a red bicycle"]), atol=1e-6)


# ---- open_clip, loaded from a generated checkpoint through the user's path -------------------

@pytest.fixture(scope="module")
def reference_clip():  # type: ignore[no-untyped-def]
    """The same tiny model the checkpoint was saved from (same seed), built in memory."""
    import modeling.engine.torchvision_compat  # noqa: F401  # isort: skip
    import open_clip
    import torch

    torch.manual_seed(0)
    return open_clip.CLIP(**TINY_CLIP).eval(), open_clip.get_tokenizer("ViT-B-32", context_length=16)


def test_it_loads_an_open_clip_checkpoint_folder(tiny_clip_dir: Path, reference_clip) -> None:  # type: ignore[no-untyped-def]
    import torch

    encoder = create_encoder("open_clip", checkpoint=str(tiny_clip_dir))
    assert encoder.dim == encoder.feature_dim == 16
    texts = ["a photo of a cat", "a diagram"]
    model, tokenizer = reference_clip
    with torch.no_grad():
        expected = model.encode_text(tokenizer(texts), normalize=True).numpy()
    np.testing.assert_allclose(encoder.encode_texts(texts), expected, atol=1e-5)
    batch = encoder.encode_images([Image.new("RGB", (50, 40), "red"), Image.new("RGB", (9, 9))])
    _assert_unit_rows(batch.vectors, 16)
    np.testing.assert_array_equal(batch.features, batch.vectors)


def test_it_loads_a_checkpoint_file_with_a_config_file(tiny_clip_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny-test-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    weights = tmp_path / "weights.pt"
    shutil.copy(tiny_clip_dir / "open_clip_pytorch_model.bin", weights)
    from_file = create_encoder("open_clip", model=str(config), checkpoint=str(weights))
    from_dir = create_encoder("open_clip", checkpoint=str(tiny_clip_dir))
    np.testing.assert_allclose(from_file.encode_texts(["x y"]), from_dir.encode_texts(["x y"]),
                               atol=1e-6)
    assert from_file.key.startswith("open_clip/tiny-test-clip/")


def test_it_changes_the_open_clip_key_with_the_weights(tiny_clip_dir: Path, tmp_path: Path) -> None:
    import torch

    other = tmp_path / "other"
    shutil.copytree(tiny_clip_dir, other)
    state = torch.load(other / "open_clip_pytorch_model.bin")
    state["logit_scale"] += 1
    torch.save(state, other / "open_clip_pytorch_model.bin")
    first = create_encoder("open_clip", checkpoint=str(tiny_clip_dir))
    second = create_encoder("open_clip", checkpoint=str(other))
    assert first.key != second.key


def test_it_refuses_open_clip_without_weights(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="needs weights"):
        create_encoder("open_clip", model="ViT-B-32")
    with pytest.raises(EncoderLoadError, match="does not exist"):
        create_encoder("open_clip", checkpoint=str(tmp_path / "missing.pt"))


# ---- torchvision on CPU torch, precomputed texts -----------------------------------------------

def test_it_makes_torchvision_importable_on_cpu_torch() -> None:
    from modeling.engine import torchvision_compat

    torchvision_compat.ensure_torchvision_importable()  # idempotent
    import torchvision.transforms

    assert torchvision.transforms.CenterCrop(4)(Image.new("RGB", (9, 9))).size == (4, 4)


def test_it_encodes_texts_for_precomputed_vectors_with_the_named_encoder(tmp_path: Path) -> None:
    from modeling.engine.encoders import PrecomputedVectorsError

    (tmp_path / "ids.txt").write_text("a\nb\n")
    np.save(tmp_path / "v384.npy", unit_rows(np.random.default_rng(0), 2, 384))
    encoder = create_encoder("precomputed", vectors=tmp_path / "v384.npy", ids=tmp_path / "ids.txt",
                             text_encoder="minilm")
    _assert_unit_rows(encoder.encode_texts(["card declined"]), 384)
    np.save(tmp_path / "v8.npy", unit_rows(np.random.default_rng(0), 2, 8))
    with pytest.raises(PrecomputedVectorsError, match="has dim 384, vectors have 8"):
        create_encoder("precomputed", vectors=tmp_path / "v8.npy", ids=tmp_path / "ids.txt",
                       text_encoder="minilm")
    bare = create_encoder("precomputed", vectors=tmp_path / "v8.npy", ids=tmp_path / "ids.txt")
    with pytest.raises(EncoderCapabilityError, match="text_encoder"):
        bare.encode_texts(["x"])
